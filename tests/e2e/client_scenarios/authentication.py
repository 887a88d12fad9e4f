"""Tokens as the official client sends them (`user_token=` becomes `Authorization: Bearer <token>`).

Without a token, or with one the server does not know, the client cannot even connect (it reads a page of
models while connecting): the server answers 401. A read-only token connects and reads, but cannot write
(403). The scenario's own token (models:write) does both.
"""

from __future__ import annotations

from _common import Scenario, run


def body(s: Scenario) -> None:
    s.step("no token: 401 while connecting")
    refused = s.raises(Exception, lambda: s.connect(token=""), "connecting without a token")
    s.check("401" in str(refused) or "Unauthorized" in str(refused), f"a 401, got: {refused!r}")
    s.check(s.token not in str(refused), "the error does not quote any token")

    s.step("an unknown token: 401")
    unknown = "msh_" + "x" * 43
    refused = s.raises(Exception, lambda: s.connect(token=unknown), "connecting with an unknown token")
    s.check("401" in str(refused) or "Unauthorized" in str(refused), f"a 401, got: {refused!r}")
    s.check(unknown not in str(refused), "the error does not quote the token sent")

    s.step("the writer registers a model")
    name = s.model_name("auth")
    writer = s.connect()
    writer.register_model(
        name, f"s3://bucket/{name}/v1", version="v1", model_format_name="onnx", model_format_version="1"
    )

    s.step("a read-only token reads it but cannot write")
    reader = s.connect(token=s.read_token)
    s.eq(reader.get_registered_model(name).name, name, "read with models:read")
    s.eq(reader.get_model_artifact(name, "v1").uri, f"s3://bucket/{name}/v1", "artifact read")
    refused = s.raises(
        Exception,
        lambda: reader.register_model(
            name, f"s3://bucket/{name}/v2", version="v2", model_format_name="onnx", model_format_version="1"
        ),
        "a write with models:read only",
    )
    s.check("403" in str(refused) or "Forbidden" in str(refused), f"a 403, got: {refused!r}")
    s.check(writer.get_model_version(name, "v2") is None, "the refused write left nothing behind")


if __name__ == "__main__":
    run(Scenario("authentication"), body)
