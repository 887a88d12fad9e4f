"""Repository URLs: the forms users write normalise to one identity per repository; hostile and malformed
ones give a clear InvalidArgument; get-download-uris' forms (org/repo, shorthands, rewritten URLs) find the
repository; rewrites choose where to fetch from as git's insteadOf would."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelshelf.errors import InvalidArgument
from modelshelf.gitindex.urls import LookupKey, credential_for, fetch_url, lookup_identities, parse_repo_url
from modelshelf.settings import GitCredential, GitRewrite

ALL = ("https", "http", "ssh", "git", "file")
DEFAULT = ("https", "ssh")

# Every form of one repository, from ISSUE9.md item 1, STUDIO_API.md §3-4 and STUDIO_CLIENTS.md §2.
SAME_REPOSITORY = {
    "github.com/org/repo": [
        "https://github.com/org/repo",
        "https://github.com/org/repo.git",
        "https://github.com/org/repo/",
        "https://github.com/org/repo.git/",
        "https://GitHub.com/Org/Repo",
        "https://github.com:443/org/repo.git",
        "git@github.com:org/repo.git",
        "git@github.com:org/repo",
        "git@github.com:/org/repo.git",
        "ssh://git@github.com/org/repo.git",
        "ssh://git@github.com:22/org/repo",
        "git+ssh://git@github.com/org/repo.git",
        "github:org/repo",
    ],
    "gitlab.com/xxx/yyy/zzz/repo": [
        "ssh://git@gitlab.com/xxx/yyy/zzz/repo.git",
        "git@gitlab.com:xxx/yyy/zzz/repo.git",
        "https://gitlab.com/xxx/yyy/zzz/repo",
        "https://gitlab.com/XXX/yyy/zzz/repo.git",
        "gitlab:xxx/yyy/zzz/repo",
    ],
    "bitbucket.org/team/repo": [
        "https://bitbucket.org/team/repo.git",
        "git@bitbucket.org:team/repo.git",
        "bitbucket:team/repo",
    ],
    # Self-hosted: case kept; the port is a transport detail (SSH on 2222, HTTPS on 443 or 8443).
    "gitlab.example.org/Group/Sub/Repo": [
        "https://gitlab.example.org/Group/Sub/Repo.git",
        "https://GITLAB.example.org/Group/Sub/Repo/",
        "https://gitlab.example.org:8443/Group/Sub/Repo",
        "ssh://git@gitlab.example.org:2222/Group/Sub/Repo.git",
        "git@gitlab.example.org:Group/Sub/Repo.git",
        "http://gitlab.example.org/Group/Sub/Repo.git",
        "git://gitlab.example.org/Group/Sub/Repo.git",
    ],
    "git.internal/repo": ["https://git.internal/repo.git", "git.internal:repo.git"],
    "10.0.0.7/models/m": ["https://10.0.0.7:3000/models/m.git", "ssh://git@10.0.0.7/models/m"],
    "[::1]/org/repo": ["http://[::1]:8080/org/repo.git", "git@[::1]:org/repo.git"],
    "/srv/git/acme/models": [
        "file:///srv/git/acme/models.git",
        "file:///srv/git/acme/models/",
        "/srv/git/acme/models",
    ],
}
CASES = [(identity, text) for identity, texts in SAME_REPOSITORY.items() for text in texts]


@pytest.mark.parametrize(("identity", "text"), CASES, ids=[t for _, t in CASES])
def test_every_form_of_one_repository_has_one_identity(identity: str, text: str) -> None:
    repo = parse_repo_url(text, schemes=ALL)
    assert repo.identity == identity
    if repo.scheme != "file":
        assert repo.identity == f"{repo.host}/{repo.path}"


@pytest.mark.parametrize(
    ("text", "scheme", "host", "path", "clone_url", "name"),
    [
        ("https://github.com/Org/Repo.git/", "https", "github.com", "org/repo",
         "https://github.com/Org/Repo.git", "Repo"),
        ("git@github.com:org/repo.git", "ssh", "github.com", "org/repo",
         "git@github.com:org/repo.git", "repo"),
        ("ssh://git@Host.example:2222/g/sub/r.git", "ssh", "host.example", "g/sub/r",
         "ssh://git@host.example:2222/g/sub/r.git", "r"),
        ("HTTPS://github.com:443/org/repo", "https", "github.com", "org/repo",
         "https://github.com/org/repo", "repo"),
        ("github:org/example-get-started", "https", "github.com", "org/example-get-started",
         "https://github.com/org/example-get-started", "example-get-started"),
        ("file:///srv/git/x.git", "file", "", "/srv/git/x", "file:///srv/git/x.git", "x"),
        ("/srv/git/x.git/", "file", "", "/srv/git/x", "file:///srv/git/x.git", "x"),
    ],
)  # fmt: skip
def test_parts_and_the_url_to_fetch(
    text: str, scheme: str, host: str, path: str, clone_url: str, name: str
) -> None:
    repo = parse_repo_url(text, schemes=ALL)
    assert (repo.scheme, repo.host, repo.path, repo.clone_url, repo.name) == (
        scheme,
        host,
        path,
        clone_url,
        name,
    )


def test_different_repositories_have_different_identities() -> None:
    texts = [
        "https://github.com/org/repo",
        "https://github.com/org/repo2",
        "https://github.com/other/repo",
        "https://gitlab.com/org/repo",
        "https://gitlab.com/org/sub/repo",
        "https://git.example.org/Org/Repo",
        "https://git.example.org/org/repo",  # a self-hosted server may be case-sensitive
    ]
    assert len({parse_repo_url(t, schemes=ALL).identity for t in texts}) == len(texts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("https://github.com/org/" + "r" * 2100, "longer than 2048"),
        ("https://github.com/org/re po", "whitespace or control"),
        ("https://github.com/org/repo\n", "whitespace or control"),
        ("https://github.com/org/re\x00po", "whitespace or control"),
        ("https://github.com/org/repo\tx", "whitespace or control"),
        ("git://github.com/org/repo.git", "scheme 'git' is not allowed on this server"),
        ("http://github.com/org/repo", "scheme 'http' is not allowed on this server"),
        ("file:///srv/git/repo.git", "scheme 'file' is not allowed on this server"),
        ("/srv/git/repo.git", "scheme 'file' is not allowed on this server"),
        ("ftp://example.org/org/repo", "scheme 'ftp' is not a Git transport"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "'<transport>::<address>' repository address is not accepted"),
        ("fd::3", "'<transport>::<address>' repository address is not accepted"),
        ("https://user:hunter2@github.com/org/repo", "must not contain credentials"),
        ("https://x-access-token@github.com/org/repo", "must not contain credentials"),
        ("ssh://git:hunter2@github.com/org/repo", "must not contain credentials"),
        ("https://github.com/org/repo?ref=main", "no query"),
        ("https://github.com/org/repo#main", "no query"),
        ("https://example.org/org/../repo", "'..'"),
        ("https://example.org/org/./repo", "'..'"),
        ("https://example.org/org//repo", "'..'"),
        ("git@example.org:../repo.git", "'..'"),
        ("file:///srv/git/../etc", "'..'"),
        ("https://example.org/org/%2e%2e/repo", "percent-encoded"),
        ("https://github.com/org", "https://github.com/<owner>/<repo>"),
        ("https://github.com/org/repo/tree/main", "https://github.com/<owner>/<repo>"),
        ("https://gitlab.com/repo", "https://gitlab.com/<group>/<repo>"),
        ("https://github.com", "org/repo part of the repository URL is missing"),
        ("https://example.org/", "org/repo part of the repository URL is missing"),
        ("https://example.org/org/.git", "no repository name"),
        ("-oProxyCommand=touch%20/tmp/pwned", "must not start with '-'"),
        ("--upload-pack=touch", "must not start with '-'"),
        ("ssh://-oProxyCommand=x/org/repo", "host must not start with '-'"),
        ("git@-oProxyCommand=x:org/repo", "host must not start with '-'"),
        ("-git@example.org:org/repo", "must not start with '-'"),
        ("git@example.org:-upload-pack=x", "path must not start with '-'"),
        ("git@example.org:--upload-pack=x/repo", "path must not start with '-'"),
        ("https://exa_mple..org/x/y", "not a valid host name"),
        ("https://:443/org/repo", "has no host"),
        ("https://example.org:0/org/repo", "port"),
        ("https://example.org:http/org/repo", "port"),
        ("https://[::1/org/repo", "malformed host"),
        ("file://otherhost/srv/git/x", "names no host"),
        ("org/repo", "not a repository URL"),
        ("C:repo", "not a repository URL"),
        ("https://example.org\\org\\repo", "must not contain '\\'"),
    ],
)
def test_malformed_and_hostile_urls_are_refused_with_a_clear_message(text: str, message: str) -> None:
    schemes = ("https", "ssh") if "allowed" in message else ALL
    with pytest.raises(InvalidArgument, match=None) as caught:
        parse_repo_url(text, schemes=schemes)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_scheme_message_names_what_is_allowed() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_repo_url("git://example.org/org/repo", schemes=DEFAULT)
    assert str(caught.value) == "scheme 'git' is not allowed on this server (allowed: https, ssh)"


def test_the_default_schemes_accept_https_and_ssh_forms() -> None:
    for text in (
        "https://github.com/org/repo",
        "git@github.com:org/repo.git",
        "ssh://git@gitlab.com/a/b/c.git",
    ):
        assert parse_repo_url(text, schemes=DEFAULT).identity


# --- get-download-uris lookups ----------------------------------------------------------------------------

REWRITES = [
    GitRewrite(prefix="https://github.com/acme/", to="file:///srv/git/acme/"),
    GitRewrite(prefix="https://github.com/acme/special", to="file:///srv/other/special"),
]


@pytest.mark.parametrize(
    "text",
    [
        "https://github.com/iterative/demo",
        "git@github.com:iterative/demo.git",
        "github:iterative/demo",
        "https://github.com/Iterative/Demo.git",
    ],
)
def test_lookup_of_a_url_form_gives_its_identity(text: str) -> None:
    key = lookup_identities(text, rewrites=[])
    assert key.identities == ("github.com/iterative/demo",)
    assert key.paths == ()


def test_lookup_accepts_schemes_that_creating_a_project_may_not() -> None:
    assert lookup_identities("git://example.org/org/repo.git", rewrites=[]).identities == (
        "example.org/org/repo",
    )


@pytest.mark.parametrize(
    "text", ["iterative/demo-bank-customer-churn", "iterative/demo-bank-customer-churn.git/"]
)
def test_lookup_of_org_repo_matches_any_host(text: str) -> None:
    key = lookup_identities(text, rewrites=[])
    assert key.identities == ()
    assert key.paths == ("iterative/demo-bank-customer-churn",)
    assert key.matches("github.com", "iterative/demo-bank-customer-churn")
    assert key.matches("gitlab.example.org", "iterative/demo-bank-customer-churn")
    assert not key.matches("github.com", "iterative/other")
    assert not key.matches("", "/srv/iterative/demo-bank-customer-churn")


def test_lookup_of_org_repo_folds_case_only_where_the_host_does() -> None:
    key = lookup_identities("Org/Repo", rewrites=[])
    assert key.paths == ("Org/Repo", "org/repo")
    assert key.matches("github.com", "org/repo")  # stored lower-case: github.com ignores case
    assert key.matches("git.example.org", "Org/Repo")
    assert not key.matches("git.example.org", "org/repo")  # a self-hosted server may not


def test_lookup_of_group_subgroup_repo() -> None:
    key = lookup_identities("group/sub/repo", rewrites=[])
    assert key.matches("gitlab.com", "group/sub/repo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the `to` side of a rule names the repository its `prefix` side names
        ("file:///srv/git/acme/models.git", "github.com/acme/models"),
        ("file:///srv/git/acme/models", "github.com/acme/models"),
        ("/srv/git/acme/models.git", "github.com/acme/models"),
        ("file:///srv/other/special", "github.com/acme/special"),
    ],
)
def test_lookup_of_a_rewritten_form_finds_the_original_repository(text: str, expected: str) -> None:
    key = lookup_identities(text, rewrites=REWRITES)
    assert expected in key.identities
    # the form's own identity stays first: a project may have been created with that very URL
    assert key.identities[0] == parse_repo_url(text, schemes=ALL).identity
    assert key.matches("github.com", expected.removeprefix("github.com/"))


def test_lookup_of_an_original_form_also_finds_a_project_created_with_its_rewritten_url() -> None:
    key = lookup_identities("https://github.com/acme/models", rewrites=REWRITES)
    assert key.identities == ("github.com/acme/models", "/srv/git/acme/models")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("repo", "not a repository URL"),
        (".", "not a repository URL"),
        ("https://user:hunter2@github.com/a/b", "must not contain credentials"),
        ("-oProxyCommand=x", "must not start with '-'"),
        ("org/../repo", "not a repository URL"),
        ("https://github.com/a b", "whitespace"),
    ],
)
def test_lookup_of_a_malformed_repo_is_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        lookup_identities(text, rewrites=REWRITES)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_lookup_key_defaults_match_nothing() -> None:
    assert not LookupKey().matches("github.com", "org/repo")


# --- where to fetch from -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://github.com/acme/models.git", "file:///srv/git/acme/models.git"),
        ("https://github.com/acme/models", "file:///srv/git/acme/models"),
        # forms other than https are rewritten through their https form, ".git" first
        ("git@github.com:acme/models.git", "file:///srv/git/acme/models.git"),
        ("ssh://git@github.com/acme/models", "file:///srv/git/acme/models.git"),
        ("github:acme/models", "file:///srv/git/acme/models"),
        # the longest prefix wins
        ("https://github.com/acme/special.git", "file:///srv/other/special.git"),
        ("git@github.com:acme/special", "file:///srv/other/special.git"),
        # no rule: the URL as written
        ("https://github.com/other/models.git", "https://github.com/other/models.git"),
        ("git@github.com:other/models.git", "git@github.com:other/models.git"),
        ("file:///srv/git/x.git", "file:///srv/git/x.git"),
    ],
)
def test_fetch_url_applies_the_longest_matching_rewrite(text: str, expected: str) -> None:
    assert fetch_url(parse_repo_url(text, schemes=ALL), REWRITES) == expected


def test_fetch_url_rewrites_an_ssh_prefix_too() -> None:
    rules = [GitRewrite(prefix="git@gitlab.example.org:", to="https://gitlab-mirror.internal/")]
    repo = parse_repo_url("https://gitlab.example.org/group/sub/repo.git", schemes=ALL)
    assert fetch_url(repo, rules) == "https://gitlab-mirror.internal/group/sub/repo.git"


def test_fetch_url_keeps_the_case_the_user_wrote() -> None:
    rules = [GitRewrite(prefix="https://github.com/Acme/", to="https://mirror.internal/Acme/")]
    repo = parse_repo_url("https://github.com/Acme/Models.git", schemes=ALL)
    assert fetch_url(repo, rules) == "https://mirror.internal/Acme/Models.git"


# --- which credentials --------------------------------------------------------------------------------------


def test_credentials_are_chosen_by_the_host_of_the_fetch_url() -> None:
    github = GitCredential(host="github.com", username="x-access-token", password="t1")
    any_port = GitCredential(host="Git.Example.org", username="u", password="t2")
    port_2222 = GitCredential(host="git.example.org:2222", ssh_key=Path("/etc/modelshelf/key"))
    both = [github, any_port, port_2222]
    assert credential_for("https://github.com/acme/models.git", both) is github
    assert credential_for("git@github.com:acme/models.git", both) is github
    assert credential_for("https://git.example.org/a/b.git", both) is any_port
    assert credential_for("https://git.example.org:8443/a/b.git", both) is any_port
    assert credential_for("ssh://git@git.example.org:2222/a/b.git", both) is port_2222
    assert credential_for("https://gitlab.com/a/b.git", both) is None
    assert credential_for("file:///srv/git/a.git", both) is None
    assert credential_for("/srv/git/a.git", both) is None
    assert credential_for("https://github.com.evil.example/a/b", both) is None
