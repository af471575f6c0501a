"""engine.redaction: secrets and <private> spans never reach the store (issue #20).

Every secret here is fake and built at run time from pieces (a prefix, then random characters
from a seeded generator, most starting with FAKE), so the repository holds no string a secret
scanner would flag.
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langmem_mcp.engine.redaction import (
    KINDS,
    Finding,
    Redacted,
    find_private,
    find_secrets,
    placeholder,
    redact,
    strip_private,
)
from tests.redaction_corpus import dev_conversation

_R = random.Random(20)
B62 = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = B62, fake: str = "FAKE") -> str:
    """``n`` characters: ``fake`` then random ones, so a reader sees at once it is not real."""
    return fake + "".join(_R.choice(alphabet) for _ in range(n - len(fake)))


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


ANTHROPIC = "sk-" + "ant-" + "api03-" + rand(93, B62 + "-_") + "AA"
OPENAI_PROJ = "sk-" + "proj-" + rand(156, B62 + "-_")
OPENAI_LEGACY = "sk-" + rand(20) + "T3Blbk" + "FJ" + rand(20, fake="")
AWS_ID = "AK" + "IA" + rand(16, string.ascii_uppercase + "234567")
AWS_STS_ID = "AS" + "IA" + rand(16, string.ascii_uppercase + "234567")
AWS_SECRET = rand(40, B62 + "/+", fake="FAKEfake/")
GH_PAT = "gh" + "p_" + rand(36)
GH_OAUTH = "gh" + "o_" + rand(36)
GH_SERVER = "gh" + "s_" + rand(36)
GH_FINE = "github" + "_pat_" + rand(22) + "_" + rand(59, fake="")
GITLAB = "gl" + "pat-" + rand(20, B62 + "-_")
SLACK_BOT = "xo" + "xb-" + "1234567890-" + "1234567890123-" + rand(24)
SLACK_USER = (
    "xo" + "xp-" + "1234567890-" + "1234567890123-" + "1234567890123-" + rand(32, "abcdef0123456789", "fa4e")
)
SLACK_HOOK_PATH = "T0FAKE0001/B0FAKE0002/" + rand(24)
STRIPE_LIVE = "sk" + "_live_" + rand(24)
STRIPE_RESTRICTED = "rk" + "_live_" + rand(24)
STRIPE_TEST = "sk" + "_test_" + rand(24)
STRIPE_WEBHOOK = "wh" + "sec_" + rand(32)
GOOGLE = "AI" + "za" + rand(35, B62 + "-_", fake="FAKE_")
JWT = (
    b64url({"alg": "HS256", "typ": "JWT"})
    + "."
    + b64url({"sub": "1234567890", "name": "Fake User", "iat": 1716239022})
    + "."
    + rand(43, B62 + "-_")
)
PEM_BODY = (
    "\n".join(rand(64, B62 + "+/", fake="FAKEKEY") for _ in range(6)) + "\n" + rand(24, B62 + "+/") + "=="
)
PEM_RSA = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + PEM_BODY + "\n-----END RSA PRIVATE KEY-----"
PEM_OPENSSH = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\n" + PEM_BODY + "\n-----END OPENSSH PRIVATE KEY-----"
PEM_PKCS8 = "-----BEGIN " + "PRIVATE KEY-----\n" + PEM_BODY + "\n-----END PRIVATE KEY-----"
PASSWORD = "Tr0ub4dor&3-fake"
RANDOM_TOKEN = rand(32)

# (case id, text, the secret values that must be gone, the placeholder kinds, text that must stay)
CASES: list[tuple[str, str, list[str], list[str], list[str]]] = [
    (
        "anthropic-in-shell",
        f"$ export ANTHROPIC_API_KEY={ANTHROPIC}\n$ langmem-mcp doctor\nok: model reachable",
        [ANTHROPIC],
        ["anthropic-api-key"],
        ["$ export ANTHROPIC_API_KEY=", "$ langmem-mcp doctor\nok: model reachable"],
    ),
    (
        "anthropic-in-chat",
        f"I get a 401 with my key {ANTHROPIC} — is it the wrong workspace?",
        [ANTHROPIC],
        ["anthropic-api-key"],
        ["I get a 401 with my key ", " — is it the wrong workspace?"],
    ),
    (
        "openai-project-in-python",
        f'client = OpenAI(api_key="{OPENAI_PROJ}")\nresp = client.responses.create(model="gpt-4o", input="hi")',
        [OPENAI_PROJ],
        ["openai-api-key"],
        ['client = OpenAI(api_key="', '")\nresp = client.responses.create(model="gpt-4o", input="hi")'],
    ),
    (
        "openai-legacy-in-env",
        f"OPENAI_API_KEY={OPENAI_LEGACY}\nOPENAI_ORG=org-acme",
        [OPENAI_LEGACY],
        ["openai-api-key"],
        ["OPENAI_API_KEY=", "\nOPENAI_ORG=org-acme"],
    ),
    (
        "aws-credentials-file",
        f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\nregion = eu-west-1\n",
        [AWS_ID, AWS_SECRET],
        ["aws-access-key-id", "aws-secret-access-key"],
        ["[default]\naws_access_key_id = ", "\naws_secret_access_key = ", "\nregion = eu-west-1\n"],
    ),
    (
        "aws-sts-in-json",
        json.dumps(
            {
                "Credentials": {
                    "AccessKeyId": AWS_STS_ID,
                    "SecretAccessKey": AWS_SECRET,
                    "Expiration": "2025-06-01T12:00:00Z",
                }
            },
            indent=2,
        ),
        [AWS_STS_ID, AWS_SECRET],
        ["aws-access-key-id", "aws-secret-access-key"],
        ['"AccessKeyId": "', '"SecretAccessKey": "', '"Expiration": "2025-06-01T12:00:00Z"'],
    ),
    (
        "aws-in-stack-trace",
        'Traceback (most recent call last):\n  File "/app/sync.py", line 12, in <module>\n'
        f"    s3 = boto3.client('s3', aws_access_key_id='{AWS_ID}', aws_secret_access_key='{AWS_SECRET}')\n"
        "botocore.exceptions.ClientError: An error occurred (InvalidAccessKeyId)",
        [AWS_ID, AWS_SECRET],
        ["aws-access-key-id", "aws-secret-access-key"],
        ['File "/app/sync.py", line 12', "aws_access_key_id='", "botocore.exceptions.ClientError"],
    ),
    (
        "github-tokens",
        f"git remote set-url origin https://{GH_PAT}@github.com/acme/api.git\n"
        f"GH_OAUTH={GH_OAUTH} GH_APP={GH_SERVER}\nfine-grained: {GH_FINE}",
        [GH_PAT, GH_OAUTH, GH_SERVER, GH_FINE],
        ["github-token"],
        ["git remote set-url origin https://", "@github.com/acme/api.git", "fine-grained: "],
    ),
    (
        "gitlab-in-ci",
        f'curl --header "PRIVATE-TOKEN: {GITLAB}" "https://gitlab.example.com/api/v4/projects"',
        [GITLAB],
        ["gitlab-token"],
        ['curl --header "PRIVATE-TOKEN: ', '" "https://gitlab.example.com/api/v4/projects"'],
    ),
    (
        "slack-tokens-and-webhook",
        f"SLACK_BOT_TOKEN={SLACK_BOT}\nuser token {SLACK_USER}\n"
        f'curl -X POST -d \'{{"text":"deploy done"}}\' https://hooks.slack.com/services/{SLACK_HOOK_PATH}',
        [SLACK_BOT, SLACK_USER, SLACK_HOOK_PATH],
        ["slack-token", "slack-webhook"],
        ["SLACK_BOT_TOKEN=", "user token ", "https://hooks.slack.com/services/", "deploy done"],
    ),
    (
        "stripe-keys",
        f"STRIPE_SECRET_KEY={STRIPE_LIVE}\nSTRIPE_RESTRICTED={STRIPE_RESTRICTED}\n"
        f"stripe.api_key = '{STRIPE_TEST}'  # test mode\nendpoint secret {STRIPE_WEBHOOK}",
        [STRIPE_LIVE, STRIPE_RESTRICTED, STRIPE_TEST, STRIPE_WEBHOOK],
        ["stripe-key"],
        ["STRIPE_SECRET_KEY=", "stripe.api_key = '", "'  # test mode", "endpoint secret "],
    ),
    (
        "google-in-url",
        f"GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={GOOGLE} returned 403",
        [GOOGLE],
        ["google-api-key"],
        ["GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=", " returned 403"],
    ),
    (
        "jwt-in-curl",
        f'curl -H "Authorization: Bearer {JWT}" http://localhost:8000/api/me',
        [JWT],
        ["jwt"],
        ['curl -H "Authorization: Bearer ', '" http://localhost:8000/api/me'],
    ),
    (
        "pem-rsa-in-chat",
        f"This is the deploy key, can you add it?\n\n{PEM_RSA}\n\nThanks!",
        [PEM_BODY, *PEM_BODY.splitlines()],
        ["private-key"],
        ["This is the deploy key, can you add it?\n\n", "\n\nThanks!"],
    ),
    (
        "pem-openssh-and-pkcs8",
        f"~/.ssh/id_ed25519:\n{PEM_OPENSSH}\nand the service key:\n{PEM_PKCS8}\n",
        [*PEM_BODY.splitlines()],
        ["private-key"],
        ["~/.ssh/id_ed25519:\n", "\nand the service key:\n"],
    ),
    (
        "pem-in-service-account-json",
        json.dumps({"type": "service_account", "project_id": "acme-dev", "private_key": PEM_PKCS8 + "\n"}),
        [line for line in PEM_BODY.splitlines()],
        ["private-key"],
        ['"type": "service_account"', '"project_id": "acme-dev"', '"private_key": "'],
    ),
    (
        "pem-unclosed",
        "Pasted the start of it:\n" + PEM_RSA.split("-----END")[0],
        [*PEM_BODY.splitlines()],
        ["private-key"],
        ["Pasted the start of it:\n"],
    ),
    (
        "postgres-url",
        f"DATABASE_URL=postgres://app_user:{PASSWORD}@db.internal:5432/app?sslmode=require",
        [PASSWORD],
        ["password"],
        ["DATABASE_URL=postgres://app_user:", "@db.internal:5432/app?sslmode=require"],
    ),
    (
        "mongodb-srv-url",
        f"mongo 'mongodb+srv://admin:{PASSWORD}@cluster0.fake1.mongodb.net/?retryWrites=true&w=majority'",
        [PASSWORD],
        ["password"],
        ["mongo 'mongodb+srv://admin:", "@cluster0.fake1.mongodb.net/?retryWrites=true&w=majority'"],
    ),
    (
        "redis-url-no-user",
        "celery worker --broker redis://:s3cr3t-fake-pw@cache.internal:6379/0 --loglevel=info",
        ["s3cr3t-fake-pw"],
        ["password"],
        ["celery worker --broker redis://:", "@cache.internal:6379/0 --loglevel=info"],
    ),
    (
        "ado-connection-string",
        f'"ConnectionStrings": {{ "Default": "Server=tcp:sql.example.net,1433;Database=app;User ID=sa;Password={PASSWORD};Encrypt=True;" }}',
        [PASSWORD],
        ["password"],
        ["Server=tcp:sql.example.net,1433;Database=app;User ID=sa;Password=", ";Encrypt=True;"],
    ),
    (
        "env-file",
        f"# .env\nDB_HOST=localhost\nDB_PASSWORD={PASSWORD}\nDB_PASS=hunter2fake\nJWT_SECRET=my jwt secret\n"
        f"SESSION_SECRET='{RANDOM_TOKEN}'\nGITHUB_TOKEN={RANDOM_TOKEN}x\nDEBUG=false\n",
        [PASSWORD, "hunter2fake", "my jwt secret", RANDOM_TOKEN],
        ["password", "secret", "token"],
        [
            "# .env\nDB_HOST=localhost\nDB_PASSWORD=",
            "DB_PASS=",
            "JWT_SECRET=",
            "SESSION_SECRET='",
            "DEBUG=false",
        ],
    ),
    (
        "yaml-config",
        f"database:\n  host: db.internal\n  user: app\n  password: {PASSWORD}\nsmtp:\n  api_key: {RANDOM_TOKEN}\n",
        [PASSWORD, RANDOM_TOKEN],
        ["password", "api-key"],
        ["database:\n  host: db.internal\n  user: app\n  password: ", "smtp:\n  api_key: "],
    ),
    (
        "json-config",
        json.dumps(
            {"db": {"user": "app", "password": "correct horse battery staple"}, "apiKey": RANDOM_TOKEN}
        ),
        ["correct horse battery staple", RANDOM_TOKEN],
        ["password", "api-key"],
        ['{"db": {"user": "app", "password": "', '"apiKey": "'],
    ),
    (
        "token-assignment-in-code",
        f'token = "{RANDOM_TOKEN}"\nclient_secret: str = "{PASSWORD}"\nheaders["X-Api-Key"] = api_key',
        [RANDOM_TOKEN, PASSWORD],
        ["token", "secret"],
        ['token = "', 'client_secret: str = "', 'headers["X-Api-Key"] = api_key'],
    ),
    (
        "cli-password-flags",
        f"mysqldump --password={PASSWORD} app > dump.sql\ncurl -u deploy:{PASSWORD} https://ci.example.com/api",
        [PASSWORD],
        ["password"],
        ["mysqldump --password=", " app > dump.sql", "curl -u deploy:", " https://ci.example.com/api"],
    ),
    (
        "password-in-prose-and-flags",
        f"the staging db password is {PASSWORD}, don't share it (the old password was Fake0ld99)\n"
        f"$ mysql --password {PASSWORD} -h db.internal app\n$ deploy --api-key=Fake1234abcd9 --verbose",
        [PASSWORD, "Fake0ld99", "Fake1234abcd9"],
        ["password", "api-key"],
        [
            "the staging db password is ",
            ", don't share it",
            " -h db.internal app",
            "--api-key=",
            " --verbose",
        ],
    ),
    (
        "query-string-and-docker-env",
        f"GET https://api.example.com/v1/items?page=2&access_token={RANDOM_TOKEN}&sort=asc\n"
        f"jdbc:postgresql://db/app?user=app&password={PASSWORD}&ssl=true\n"
        f"docker run -e POSTGRES_PASSWORD={PASSWORD} -p 5432:5432 postgres:16",
        [RANDOM_TOKEN, PASSWORD],
        ["token", "password"],
        [
            "?page=2&access_token=",
            "&sort=asc",
            "?user=app&password=",
            "&ssl=true",
            " -p 5432:5432 postgres:16",
        ],
    ),
    (
        "basic-and-bearer-headers",
        "Authorization: Basic " + base64.b64encode(b"admin:" + PASSWORD.encode()).decode() + "\n"
        f"Authorization: Bearer ya29.{RANDOM_TOKEN}\n",
        [base64.b64encode(b"admin:" + PASSWORD.encode()).decode(), RANDOM_TOKEN],
        ["basic-auth", "bearer-token"],
        ["Authorization: Basic ", "Authorization: Bearer "],
    ),
    (
        "high-entropy-near-keyword",
        f"here's the staging key: {RANDOM_TOKEN} (rotate it after the demo)\n"
        f"and the webhook signing secret is {rand(40, B62 + '_-')}",
        [RANDOM_TOKEN],
        ["high-entropy-token"],
        ["here's the staging key: ", " (rotate it after the demo)", "and the webhook signing secret is "],
    ),
]


@pytest.mark.parametrize(
    ("text", "secrets", "kinds", "keep"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_secret_is_replaced_by_its_typed_placeholder(
    text: str, secrets: list[str], kinds: list[str], keep: list[str]
) -> None:
    r = redact(text)
    for secret in secrets:
        assert secret not in r.text
    for kind in kinds:
        assert placeholder(kind) in r.text
        assert kind in r.kinds
    for part in keep:
        assert part in r.text
    assert r.kinds == tuple(sorted(set(r.kinds)))


@pytest.mark.parametrize(("text", "secrets"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_find_secrets_reports_positions_without_changing(text: str, secrets: list[str]) -> None:
    findings = find_secrets(text)
    assert findings
    assert all(f.kind in KINDS for f in findings)
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:], strict=False))
    covered = "".join(text[f.start : f.end] for f in findings)
    for secret in secrets:
        if "\n" not in secret:
            assert secret in covered


def test_secret_values_kept_out_but_keys_and_hosts_kept() -> None:
    r = redact(f"postgres://app:{PASSWORD}@db.internal:5432/app")
    assert r.text == "postgres://app:[redacted: password]@db.internal:5432/app"
    assert r.kinds == ("password",)
    r = redact(f"ANTHROPIC_API_KEY={ANTHROPIC}")
    assert r.text == "ANTHROPIC_API_KEY=[redacted: anthropic-api-key]"
    r = redact(f'{{"password": "{PASSWORD}", "user": "bob"}}')
    assert r.text == '{"password": "[redacted: password]", "user": "bob"}'


def test_short_url_password_is_still_a_password() -> None:
    assert redact("redis://:pw@cache:6379/0").text == "redis://:[redacted: password]@cache:6379/0"


def test_overlapping_detectors_leave_nothing_and_name_the_specific_kind() -> None:
    # the assignment sees the value, the shape detector sees the key: one span, the specific kind
    r = redact(f'token: "{GH_PAT}"')
    assert r.text == 'token: "[redacted: github-token]"'
    assert r.kinds == ("github-token",)


def test_kinds_are_sorted_and_distinct() -> None:
    r = redact(f"{ANTHROPIC} and {ANTHROPIC} <private>x</private> {AWS_ID}")
    assert r.kinds == ("anthropic-api-key", "aws-access-key-id", "private")


# --- <private> spans --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("keep <private>my diagnosis</private> keep", "keep [private] keep"),
        ("a <private>1</private> b <private>2</private> c", "a [private] b [private] c"),
        ("before\n<private>\nline one\nline two\n</private>\nafter", "before\n[private]\nafter"),
        ("Case: <PRIVATE>x</Private> done", "Case: [private] done"),
        ("spaced <private >x</private > done", "spaced [private] done"),
        ("unclosed <private>everything after this\nis dropped", "unclosed [private]"),
        ("nested <private>a <private>b</private> c</private> d", "nested [private] d"),
        ("stray </private> close stays", "stray </private> close stays"),
        ("no tags at all", "no tags at all"),
        ("<private></private>", "[private]"),
        ("x <private>a</private></private> y", "x [private]</private> y"),
    ],
)
def test_private_spans(text: str, expected: str) -> None:
    assert strip_private(text) == expected
    r = redact(text)
    assert r.text == expected
    assert r.kinds == (("private",) if "[private]" in expected else ())


def test_private_span_with_a_secret_inside_drops_both() -> None:
    r = redact(f"ok <private>my key is {ANTHROPIC}</private> ok")
    assert r.text == "ok [private] ok"
    assert r.kinds == ("private",)


def test_find_private_positions() -> None:
    text = "a <private>b</private> c <private>d"
    assert find_private(text) == [Finding("private", 2, 22), Finding("private", 25, len(text))]


# --- idempotence ------------------------------------------------------------------------------------

# Secrets recognised by their shape alone, wherever they are.
SECRETS = [
    ANTHROPIC,
    OPENAI_PROJ,
    OPENAI_LEGACY,
    AWS_ID,
    AWS_STS_ID,
    GH_PAT,
    GH_OAUTH,
    GH_SERVER,
    GH_FINE,
    GITLAB,
    SLACK_BOT,
    SLACK_USER,
    STRIPE_LIVE,
    STRIPE_RESTRICTED,
    STRIPE_TEST,
    STRIPE_WEBHOOK,
    GOOGLE,
    JWT,
    PEM_RSA,
    PEM_OPENSSH,
]
FRAGMENTS = [
    "password=",
    "token: ",
    "API_KEY=",
    "key ",
    "secret is ",
    "postgres://u:",
    "@db/app",
    "<private>",
    "</private>",
    "[redacted: password]",
    "[private]",
    "[redacted: ",
    "]",
    " ",
    "\n",
    '"',
    "'",
    ";",
    "=",
    "Bearer ",
    "aws ",
]


@st.composite
def mixed_text(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from(SECRETS),
                st.sampled_from(FRAGMENTS),
                st.text(alphabet=B62 + " -_/+=:.\n", max_size=40),
            ),
            max_size=12,
        )
    )
    return "".join(parts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_text())
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once.text) == once
    assert not find_secrets(once.text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_redact_is_idempotent_on_any_text(text: str) -> None:
    once = redact(text)
    assert redact(once.text) == once


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(SECRETS), min_size=1, max_size=4), st.sampled_from([" ", "\n", ", ", " and "])
)
def test_no_secret_survives_any_arrangement(secrets: list[str], sep: str) -> None:
    r = redact("see: " + sep.join(secrets) + " done")
    for s in secrets:
        assert s not in r.text
    assert r.text.startswith("see: ") and r.text.endswith(" done")


def test_unchanged_text_is_returned_as_is() -> None:
    text = "nothing to see here: 3f9c2a1b7d4e5f60718293a4b5c6d7e8f9012345"
    assert redact(text).text is text
    assert redact("") == Redacted("", ())


def test_result_is_frozen() -> None:
    r = redact("x")
    with pytest.raises(FrozenInstanceError):
        r.text = "y"  # type: ignore[misc]


def test_positions_survive_case_folding_that_changes_length() -> None:
    # "İ".lower() is two characters; positions must still point into the original text
    text = "İİİ key " + ANTHROPIC + " İ"
    (f,) = find_secrets(text)
    assert text[f.start : f.end] == ANTHROPIC
    assert redact(text).text == "İİİ key [redacted: anthropic-api-key] İ"


# --- bounded cost -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    [
        "key",
        "pass",
        "password=",
        " -u a:b",
        "[redacted: password]",
        "Bearer ",
        "-----BEGIN RSA PRIVATE KEY-----\n",
    ],
)
def test_adversarial_input_costs_linear_time(unit: str) -> None:
    # each of these once cost O(n²) (a scan per anchor to the end of the text): ~3 s at 20k chars,
    # so ~50 s at 80k; linear, 80k chars take ~0.1 s
    text = unit * (80_000 // len(unit))
    t0 = time.perf_counter()
    redact(text)
    assert time.perf_counter() - t0 < 2.0


def test_long_unquoted_blob_after_a_secret_key_goes_whole() -> None:
    blob = base64.b64encode(json.dumps({"type": "service_account", "key": rand(2400)}).encode()).decode()
    r = redact(f"GOOGLE_CREDENTIALS_B64={blob}\nNEXT=1")
    assert r.text == "GOOGLE_CREDENTIALS_B64=[redacted: secret]\nNEXT=1"
    conn = f"DefaultEndpointsProtocol=https;AccountName=acmefake;AccountKey={rand(86)}==;EndpointSuffix=core.windows.net"
    assert redact(conn).text == (
        "DefaultEndpointsProtocol=https;AccountName=acmefake;AccountKey=[redacted: secret];"
        "EndpointSuffix=core.windows.net"
    )


# --- no false alarms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "def refresh_access_token_if_expired(session: Session) -> None: ...",
        "const handleApiKeyRotationForTenantAccounts = async () => {}",
        "git show 3f9c2a1b7d4e5f60718293a4b5c6d7e8f9012345 -- src/auth/token.py",
        "Fixed in a1b2c3d (token refresh), see also 0123456789ab.",
        "request 550e8400-e29b-41d4-a716-446655440000 failed with key error",
        "/home/dev/projects/langmem-mcp/langmem_mcp/engine/redaction.py:120",
        "C:\\Users\\dev\\AppData\\Local\\secret-tool\\config.json",
        "https://github.com/acme/api/blob/main/src/auth/api_key_store.py#L42",
        "ssh://git@github.com/acme/api.git and git@github.com:acme/api.git",
        "postgres://localhost:5432/app and https://example.com:8443/path?a=1",
        "docker pull ghcr.io/acme/api@sha256:" + "0f" * 32,
        '"integrity": "sha512-' + base64.b64encode(bytes(range(64))).decode() + '"',
        "thumbnail: data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "The primary key is (namespace, id); the sort key is created_at.",
        "max_tokens=4096, temperature=0.2, stop_sequences=['\\n\\nHuman:']",
        "password: str = Field(min_length=12)",
        "password: string;",
        "token = os.environ['GITHUB_TOKEN']",
        "api_key=settings.anthropic_api_key",
        "Password: cfg.Password,",
        "password: ${DB_PASSWORD}",
        "NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}",
        "OPENAI_API_KEY=<your key here>",
        "SECRET_KEY=changeme",
        "DATABASE_URL=postgres://user:password@localhost:5432/app",
        "ANTHROPIC_API_KEY=your-api-key-here",
        "docker run -u 1000:1000 -v $PWD:/src builder",
        "git push -u origin main",
        "headers = {'Authorization': f'Bearer {token}'}",
        "Bearer authentication is described in RFC 6750.",
        "Basic usage: langmem-mcp serve --transport stdio",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake dev@laptop",
        "256 SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8 dev@laptop (ED25519)",
        "Job 01HQ3Z8X7K4M9N2P5R6S8T0V1W (idempotency key) failed",
        "claude-3-5-sonnet-20241022 and gpt-4o-2024-08-06 both need an API key",
        "Version 1.0.0-rc.2+build.5, Python 3.11.9, numpy 2.2.6",
        'password_hash = "$2b$12$' + "FakeHashFakeHashFakeHa" + '"',
        "if password == confirm_password: save()",
        "The token budget is 200k tokens; the key insight is caching.",
        "Password is required and the password is hashed with bcrypt.",
        "The password is base64-encoded in the secret, and the token was revoked yesterday.",
        "docker build --secret id=npmrc,src=$HOME/.npmrc .",
        "app --password-file /run/secrets/db_password --token-file ./token.txt",
        "Go: Token: token, Password: password,",
        'fetch(url, { credentials: "include" }); fetch(url, { credentials: "same-origin" })',
        "credentials: include",
        "secret: !vault |",
        'secret = "s"',
        'ansible_become_pass: "{{ vault_pass }}"',
        "password = var.db_password",
        "export GITHUB_TOKEN=$(gh auth token)",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert find_secrets(text) == []
    assert redact(text).text == text


def test_false_positive_rate_on_developer_conversation() -> None:
    messages = dev_conversation(600)
    assert len(set(messages)) == 600
    changed = [m for m in messages if redact(m).text != m]
    rate = len(changed) / len(messages)
    print(f"\nfalse positives: {len(changed)}/{len(messages)} messages changed ({rate:.2%})")
    assert rate < 0.01, changed[:3]


def test_kinds_list_matches_placeholders() -> None:
    assert placeholder("private") == "[private]"
    assert all(placeholder(k) == f"[redacted: {k}]" for k in KINDS)
    assert len(set(KINDS)) == len(KINDS)
