"""Git models: what a repository says, read from a bare mirror without a working tree.

`urls` names repositories, `mirror` keeps and reads the bare mirrors, `gto` turns annotated tags into
versions and stages, `dvcfiles` finds the artifacts of a commit and the DVC objects that hold them.
Nothing here touches the database or HTTP; the services layer stores what these modules find.
"""
