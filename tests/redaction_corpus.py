"""Ordinary developer conversation with no secret in it, generated deterministically.

The false-positive corpus of tests/test_redaction.py and the transcript-like corpus of
tests/bench/redaction.py. Messages are what a coding session is full of: questions and answers,
code (including code that *handles* passwords, tokens and keys), git logs with SHAs, stack traces,
file paths, URLs, UUIDs, package versions, lockfile hashes, docker digests, npm integrity hashes,
base64 image snippets, SSH public keys, request ids. None holds a real credential; the values that
look random are hashes, ids and image data, which a redactor must leave alone.

    dev_conversation(600)  # the same 600 messages on every run
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable

Gen = Callable[[random.Random], str]

FUNCS = [
    "normalize_user_record",
    "parse_transcript_line",
    "build_search_index",
    "refresh_access_token_if_expired",
    "verify_password",
    "hash_password",
    "load_settings",
    "get_api_key_from_env",
    "rotate_signing_keys",
    "compute_cache_key",
    "reciprocal_rank_fusion",
    "embed_batch",
    "handleSubmit",
    "useAuthSession",
    "fetchUserProfile",
    "refreshAccessTokenIfExpired",
    "validateApiKeyFormat",
    "tokenizeInput",
    "createPrimaryKeyIndex",
    "test_user_can_reset_password_with_valid_token",
    "test_expired_token_is_rejected",
    "test_search_returns_exact_matches_first",
    "AbstractSingletonProxyFactoryBean",
    "HttpClientConnectionManager",
    "MemoryStore.add_many",
    "Indexer.grow",
    "VectorRows.matrix",
]
MODULES = [
    "app/db/migrate.py",
    "langmem_mcp/store/sqlite.py",
    "src/components/AuthTokenProvider.tsx",
    "src/lib/api/client.ts",
    "internal/auth/session.go",
    "crates/indexer/src/lib.rs",
    "services/billing/stripe_webhooks.py",
    "config/settings/production.py",
    "tests/test_auth.py",
    "web/src/pages/settings/api-keys.tsx",
    "deploy/k8s/secrets.yaml",
    ".github/workflows/ci.yml",
    "docker-compose.yml",
    "scripts/rotate_keys.sh",
    "pkg/cache/keys.go",
]
PACKAGES = [
    ("pydantic", "2.11.7"),
    ("fastapi", "0.115.12"),
    ("sqlalchemy", "2.0.41"),
    ("numpy", "2.2.6"),
    ("chromadb", "1.0.12"),
    ("onnxruntime", "1.22.0"),
    ("tokenizers", "0.21.1"),
    ("anthropic", "0.54.0"),
    ("openai", "1.86.0"),
    ("react", "18.3.1"),
    ("next", "14.2.29"),
    ("typescript", "5.8.3"),
    ("express", "4.21.2"),
    ("jsonwebtoken", "9.0.2"),
    ("bcrypt", "5.1.1"),
    ("passlib", "1.7.4"),
    ("cryptography", "45.0.3"),
    ("serde", "1.0.219"),
    ("tokio", "1.45.1"),
    ("golang.org/x/crypto", "v0.38.0"),
]
ERRORS = [
    "sqlite3.OperationalError: database is locked",
    "KeyError: 'user_id'",
    "TypeError: Cannot read properties of undefined (reading 'map')",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "jwt.exceptions.ExpiredSignatureError: Signature has expired",
    'psycopg.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed',
    "ModuleNotFoundError: No module named 'tokenizers'",
    "AssertionError: assert 3 == 4",
    "panic: runtime error: index out of range [5] with length 5",
    "error[E0502]: cannot borrow `self.keys` as mutable because it is also borrowed as immutable",
    "401 Unauthorized: invalid or expired token",
    "botocore.exceptions.NoCredentialsError: Unable to locate credentials",
]
NAMES = ["Ana", "Ben", "Chen", "Dana", "Eli", "Farah", "Goran", "Hana", "Ivo", "Jun"]
WORDS = "index cache search embed batch token key secret password vector schema migration query".split()


def hexs(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def uuid(r: random.Random) -> str:
    h = hexs(r, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{r.choice('89ab')}{h[17:20]}-{h[20:32]}"


def b64(r: random.Random, nbytes: int) -> str:
    return base64.b64encode(r.randbytes(nbytes)).decode()


def png_b64(r: random.Random, nbytes: int = 60) -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + r.randbytes(nbytes)).decode()


def jpeg_b64(r: random.Random, nbytes: int = 60) -> str:
    return base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF" + r.randbytes(nbytes)).decode()


def ulid(r: random.Random) -> str:
    return "01" + "".join(r.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(24))


def ver(r: random.Random) -> str:
    return f"{r.randint(0, 5)}.{r.randint(0, 30)}.{r.randint(0, 20)}"


def func(r: random.Random) -> str:
    return r.choice(FUNCS)


def mod(r: random.Random) -> str:
    return r.choice(MODULES)


def pkg(r: random.Random) -> tuple[str, str]:
    return r.choice(PACKAGES)


def when(r: random.Random) -> str:
    return f"2025-0{r.randint(1, 9)}-{r.randint(10, 28)}T{r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}Z"


# --- message templates ----------------------------------------------------------------------------


def chat_question(r: random.Random) -> str:
    return r.choice(
        [
            f"Can you check whether `{func(r)}` in {mod(r)} still handles the legacy schema? It started failing after the {pkg(r)[0]} upgrade.",
            f"Why does `{func(r)}` take {r.randint(2, 900)} ms on the first call? I suspect it loads the model lazily.",
            f"I renamed `{func(r)}` to `{func(r)}` but the import in {mod(r)} still points at the old name.",
            "What's the difference between a primary key and a unique index in SQLite? Do I need both on `memories.id`?",
            "How many tokens does a 2,000-character message take with the MiniLM tokenizer? I want to stay under 256.",
            "Should the API key be read at startup or per request? Right now we call os.getenv every time.",
            "Where do we store the signing secret for webhooks? I couldn't find it in the settings module.",
            "The password reset flow sends the email but the link says the token is invalid. Any idea?",
            "Can we rotate the keys without downtime? The old ones should stay valid for 24 hours.",
            f"Is `{pkg(r)[0]}=={pkg(r)[1]}` compatible with Python 3.11 or do we need to pin an older one?",
            "What does `max_tokens` default to if I don't pass it? The response got cut off mid-sentence.",
            "How should I name the env var for the Stripe secret key so it matches the other services?",
            "Do we hash passwords with bcrypt or argon2 here? I see both imported.",
            "Could the 401 come from the token being sent without the Bearer prefix?",
            f"Can you review PR #{r.randint(100, 999)}? It moves credential loading into a provider class.",
            "Is it OK to log the key id (not the key) when a request is rejected?",
        ]
    )


def chat_answer(r: random.Random) -> str:
    f = func(r)
    return r.choice(
        [
            f"`{f}` is called from {mod(r)} line {r.randint(10, 400)}; the slow part is the first `embed_batch` call, which loads the ONNX session. Later calls take {r.randint(2, 20)} ms.",
            "Yes: the primary key already implies a unique index, so the extra `CREATE UNIQUE INDEX` only costs writes.",
            "The token is valid for 15 minutes; the link in the email is built before the transaction commits, so a fast click can race it. Commit first, then send.",
            "Read the API key once at startup into the settings object and pass it down; `os.getenv` on every request makes tests harder to isolate.",
            "I'd keep the secret in the secret manager and inject it as an env var at deploy time. The code only sees `settings.webhook_secret`.",
            f"The failing test is `{f}`; it compares against a fixture written before the schema change. Regenerating the fixture fixes it.",
            "bcrypt, through passlib's CryptContext. The argon2 import is left over from an experiment and can go.",
            "max_tokens is required by the Messages API; the SDK doesn't default it. We pass 4096 in llm/anthropic.py.",
            "The keys rotate through a `kid` in the JWT header: new tokens use the new key, verification accepts both for a day.",
            f"Done: bumped {pkg(r)[0]} to {ver(r)}, regenerated the lockfile, and the tests pass locally ({r.randint(100, 900)} passed, {r.randint(0, 9)} skipped).",
            "Right, the 401 was the missing `Bearer ` prefix: the middleware splits on the space and takes the second part.",
            "Logging the key id is fine; it's an opaque identifier, not the secret. Never log the Authorization header itself.",
        ]
    )


def git_log(r: random.Random) -> str:
    lines = []
    for _ in range(r.randint(2, 8)):
        lines.append(
            f"commit {hexs(r, 40)}\nAuthor: {r.choice(NAMES)} <{r.choice(NAMES).lower()}@example.com>\n"
            f"Date:   Mon Jun {r.randint(1, 28)} {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)} 2025 +0200\n\n"
            f"    {r.choice(['Fix', 'Add', 'Refactor', 'Remove', 'Speed up'])} {r.choice(WORDS)} {r.choice(['handling', 'tests', 'path', 'cache', 'lookup'])}\n"
        )
    return "Here's the log since the release:\n\n" + "\n".join(lines)


def git_oneline(r: random.Random) -> str:
    lines = [
        f"{hexs(r, 7)} {r.choice(['fix', 'feat', 'chore', 'docs', 'test'])}: {r.choice(WORDS)} {r.choice(['rotation', 'refresh', 'parsing', 'expiry', 'lookup', 'index'])}"
        for _ in range(r.randint(3, 12))
    ]
    return "$ git log --oneline -n 12\n" + "\n".join(lines)


def git_diff(r: random.Random) -> str:
    path = mod(r)
    return (
        f"diff --git a/{path} b/{path}\nindex {hexs(r, 7)}..{hexs(r, 7)} 100644\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -{r.randint(1, 200)},7 +{r.randint(1, 200)},9 @@ def {func(r)}(\n"
        '-    token = request.headers.get("Authorization", "")\n'
        '+    header = request.headers.get("Authorization", "")\n'
        '+    scheme, _, token = header.partition(" ")\n'
        '+    if scheme.lower() != "bearer" or not token:\n'
        '+        raise Unauthorized("missing bearer token")\n'
    )


def sha_mention(r: random.Random) -> str:
    return r.choice(
        [
            f"Bisected it: {hexs(r, 40)} is the first bad commit.",
            f"Cherry-pick {hexs(r, 10)} onto the release branch, please.",
            f"The key change is in {hexs(r, 12)}, where the cache key started including the namespace.",
            f"Reverted in {hexs(r, 40)}; the token refresh loop is back to the old behaviour.",
            f"CI on {hexs(r, 7)} is green, the secret scanning job included.",
        ]
    )


def stack_trace(r: random.Random) -> str:
    frames = "".join(
        f'  File "/home/dev/proj/{mod(r)}", line {r.randint(10, 800)}, in {func(r).split(".")[-1]}\n    {r.choice(["result = self._run(query)", "rows = await db.execute_fetchall(sql, params)", "token = self._tokens[user_id]", "return hmac.compare_digest(expected, provided)", "key = compute_cache_key(ns, text)"])}\n'
        for _ in range(r.randint(2, 7))
    )
    return f"It crashes with:\n\nTraceback (most recent call last):\n{frames}{r.choice(ERRORS)}\n\nrequest id {uuid(r)}"


def js_trace(r: random.Random) -> str:
    frames = "\n".join(
        f"    at {func(r)} (/app/{mod(r)}:{r.randint(1, 500)}:{r.randint(1, 80)})"
        for _ in range(r.randint(3, 8))
    )
    return f"{r.choice(ERRORS)}\n{frames}\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"


def python_code(r: random.Random) -> str:
    return r.choice(
        [
            'def verify_password(plain: str, hashed: str) -> bool:\n    """Constant-time check against the stored bcrypt hash."""\n    return pwd_context.verify(plain, hashed)\n',
            'class Settings(BaseSettings):\n    database_url: str\n    api_key: SecretStr\n    jwt_secret: SecretStr\n    token_ttl_seconds: int = 900\n    model_config = SettingsConfigDict(env_file=".env")\n',
            'API_KEY = os.environ["ANTHROPIC_API_KEY"]\nclient = Anthropic(api_key=API_KEY)\nresp = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=1024, messages=msgs)\n',
            'token = jwt.encode({"sub": user.id, "exp": expires}, settings.jwt_secret.get_secret_value(), algorithm="HS256")\nreturn {"access_token": token, "token_type": "bearer"}\n',
            'def compute_cache_key(namespace: str, text: str) -> str:\n    return hashlib.sha256(f"{namespace}\\x00{text}".encode()).hexdigest()\n',
            'password = getpass.getpass("DB password: ")\nconn = psycopg.connect(host=host, user=user, password=password, dbname="app")\n',
            'headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}\nr = httpx.post(url, headers=headers, json=payload, timeout=30)\n',
            "tokens = tokenizer.encode_batch(texts)\nids = np.array([t.ids[:256] for t in tokens])\nmask = ids != 0\n",
            "secret = secrets.token_urlsafe(32)\nstore.save_webhook_secret(endpoint_id, secret)\n",
            '@pytest.fixture\ndef client(monkeypatch):\n    monkeypatch.setenv("API_KEY", "test")\n    monkeypatch.setenv("JWT_SECRET", "dummy")\n    return TestClient(app)\n',
            'for key, value in sorted(config.items()):\n    print(f"{key:>20} = {value!r}")\n',
            'password_hash: Mapped[str] = mapped_column(String(60))\napi_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id"))\n',
            'if not hmac.compare_digest(signature, expected):\n    raise PermissionError("bad webhook signature")\n',
            "def rotate_signing_keys(keys: list[Key], now: datetime) -> list[Key]:\n    active = [k for k in keys if k.expires_at > now]\n    return active + [Key.generate(kid=new_kid())]\n",
            'access_token = response.json()["access_token"]\nrefresh_token = response.json().get("refresh_token")\n',
            'api_key = settings.anthropic_api_key or os.getenv("ANTHROPIC_API_KEY")\nif not api_key:\n    raise ConfigError("no API key configured")\n',
        ]
    )


def ts_code(r: random.Random) -> str:
    return r.choice(
        [
            "export async function fetchUserProfile(token: string): Promise<Profile> {\n  const res = await fetch(`/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });\n  if (!res.ok) throw new Error(`profile: ${res.status}`);\n  return res.json();\n}\n",
            "interface LoginForm {\n  email: string;\n  password: string;\n  rememberMe?: boolean;\n}\n",
            "const apiKey = process.env.OPENAI_API_KEY;\nif (!apiKey) throw new Error('OPENAI_API_KEY is not set');\n",
            "const { data: session } = useSession();\nconst token = session?.accessToken;\n",
            "jwt.verify(token, process.env.JWT_SECRET!, { algorithms: ['HS256'] });\n",
            "export const config = { api: { bodyParser: false } };\nconst sig = req.headers['stripe-signature'];\nconst event = stripe.webhooks.constructEvent(buf, sig, webhookSecret);\n",
        ]
    )


def go_code(r: random.Random) -> str:
    return r.choice(
        [
            'cfg := &Config{\n\tHost:     os.Getenv("DB_HOST"),\n\tPassword: os.Getenv("DB_PASSWORD"),\n\tToken:    cfg.Token,\n}\n',
            'func (s *Server) authenticate(r *http.Request) (*User, error) {\n\ttoken := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")\n\treturn s.tokens.Lookup(r.Context(), token)\n}\n',
            "hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)\nif err != nil {\n\treturn err\n}\n",
        ]
    )


def sql_code(r: random.Random) -> str:
    return r.choice(
        [
            "CREATE TABLE users (\n  id uuid PRIMARY KEY,\n  email text UNIQUE NOT NULL,\n  password_hash text NOT NULL,\n  created_at timestamptz DEFAULT now()\n);\n",
            "CREATE TABLE api_keys (id uuid PRIMARY KEY, user_id uuid REFERENCES users(id), key_prefix text, key_hash bytea, revoked_at timestamptz);\n",
            f"SELECT id, key_prefix FROM api_keys WHERE user_id = '{uuid(r)}' AND revoked_at IS NULL;",
            "EXPLAIN QUERY PLAN SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT 20;",
        ]
    )


def yaml_config(r: random.Random) -> str:
    return r.choice(
        [
            'services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n    ports:\n      - "5432:5432"\n',
            "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-credentials\n        key: password\n",
            "- name: Publish\n  run: npm publish\n  env:\n    NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}\n",
            "jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n        with:\n          python-version: '3.11'\n",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\nstringData:\n  api-key: <set by sealed-secrets>\n",
            "auth:\n  provider: oidc\n  token_ttl: 15m\n  refresh_token_ttl: 720h\n  password_min_length: 12\n",
            f"image: ghcr.io/acme/api@sha256:{hexs(r, 64)}\nreplicas: 3\n",
        ]
    )


def env_example(r: random.Random) -> str:
    return r.choice(
        [
            "# .env.example — copy to .env and fill in\nANTHROPIC_API_KEY=your-api-key-here\nDATABASE_URL=postgres://user:password@localhost:5432/app\nSECRET_KEY=changeme\nDEBUG=true\n",
            "Put this in .env (never commit the real one):\n\nOPENAI_API_KEY=<your key>\nSTRIPE_SECRET_KEY=\nJWT_SECRET=${JWT_SECRET}\nLOG_LEVEL=info\n",
            'export PATH="$HOME/.local/bin:$PATH"\nexport PYTHONPATH=src\nexport LANGMEM_MCP_DATA_DIR=~/.local/share/langmem-mcp\n',
        ]
    )


def shell_session(r: random.Random) -> str:
    p, v = pkg(r)
    return r.choice(
        [
            f"$ pip install {p}=={v}\nCollecting {p}=={v}\n  Downloading {p}-{v}-py3-none-any.whl ({r.randint(10, 900)} kB)\nSuccessfully installed {p}-{v}\n",
            f"$ docker images\nREPOSITORY        TAG       IMAGE ID       CREATED        SIZE\nacme/api          latest    {hexs(r, 12)}   2 hours ago    {r.randint(100, 900)}MB\npostgres          16        {hexs(r, 12)}   3 weeks ago    432MB\n",
            f"$ docker pull python:3.11-slim\n3.11-slim: Pulling from library/python\nDigest: sha256:{hexs(r, 64)}\nStatus: Downloaded newer image for python:3.11-slim\n",
            f"$ sha256sum dist/langmem_mcp-0.1.0-py3-none-any.whl\n{hexs(r, 64)}  dist/langmem_mcp-0.1.0-py3-none-any.whl\n",
            f"$ kubectl get pods\nNAME                       READY   STATUS    RESTARTS   AGE\napi-{hexs(r, 9)}-{''.join(r.choice(string.ascii_lowercase + string.digits) for _ in range(5))}   1/1     Running   0          {r.randint(1, 59)}m\n",
            "$ git push -u origin feature/token-refresh\nEnumerating objects: 9, done.\nTo github.com:acme/api.git\n * [new branch]      feature/token-refresh -> feature/token-refresh\n",
            "$ docker run --rm -u $(id -u):$(id -g) -v $PWD:/src acme/builder make\n",
            f"$ ssh-keygen -lf ~/.ssh/id_ed25519.pub\n256 SHA256:{b64(r, 32).rstrip('=')} dev@laptop (ED25519)\n",
            "$ openssl rand -hex 32\n" + hexs(r, 64) + "\n",
            f"$ curl -s https://api.github.com/repos/acme/api/commits/main | jq -r .sha\n{hexs(r, 40)}\n",
            "$ pytest -q tests/test_auth.py\n........F..\nFAILED tests/test_auth.py::test_expired_token_is_rejected - assert 200 == 401\n",
        ]
    )


def lockfile(r: random.Random) -> str:
    p, v = pkg(r)
    return r.choice(
        [
            f'The lockfile changed a lot; e.g.\n\n"node_modules/{p}": {{\n  "version": "{v}",\n  "resolved": "https://registry.npmjs.org/{p}/-/{p}-{v}.tgz",\n  "integrity": "sha512-{b64(r, 64)}",\n  "license": "MIT"\n}}',
            f'[[package]]\nname = "{p}"\nversion = "{v}"\nfiles = [\n    {{file = "{p}-{v}-py3-none-any.whl", hash = "sha256:{hexs(r, 64)}"}},\n]\n',
            f'{p}@^{v}:\n  version "{v}"\n  resolved "https://registry.yarnpkg.com/{p}/-/{p}-{v}.tgz#{hexs(r, 40)}"\n  integrity sha512-{b64(r, 64)}\n',
            f'[[package]]\nname = "{p}"\nversion = "{v}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "{hexs(r, 64)}"\n',
            f"{p} {v} h1:{b64(r, 32)}\n{p} {v}/go.mod h1:{b64(r, 32)}\n",
            f"Why did the integrity hash of {p} change? Before: sha512-{b64(r, 64)} after a reinstall it's different.",
        ]
    )


def versions(r: random.Random) -> str:
    return r.choice(
        [
            f"We're on Python 3.11.9, node v20.{r.randint(0, 18)}.{r.randint(0, 9)}, and {pkg(r)[0]} {ver(r)}.",
            "Works with claude-sonnet-4-20250514 and claude-3-5-haiku-20241022; gpt-4o-2024-08-06 needs the other tool format.",
            f"Release v{ver(r)}-rc.{r.randint(1, 5)}+build.{r.randint(10, 999)} is tagged; the changelog lists the token expiry fix.",
            f"`pip freeze` says: {', '.join(f'{p}=={v}' for p, v in r.sample(PACKAGES, 5))}",
        ]
    )


def urls(r: random.Random) -> str:
    return r.choice(
        [
            f"See https://github.com/acme/api/pull/{r.randint(100, 999)} and the docs at https://docs.python.org/3/library/secrets.html#secrets.token_urlsafe",
            "Clone with git@github.com:acme/api.git or ssh://git@github.com/acme/api.git",
            f"The endpoint is http://localhost:8080/api/v1/users?limit=50&cursor={uuid(r)}",
            "DATABASE_URL=postgres://localhost:5432/app works locally since we use peer auth.",
            f"Signed URLs look like https://cdn.example.com/a/{uuid(r)}.png?expires=1718000000 and expire after an hour.",
            "Docs: https://docs.anthropic.com/en/api/messages and https://platform.openai.com/docs/api-reference/authentication",
            f"The build is at https://ci.example.com/acme/api/builds/{r.randint(1000, 99999)}#step-3",
            "redis://cache.internal:6379/0 for the queue, mongodb://db1,db2,db3/app?replicaSet=rs0 for events.",
        ]
    )


def images(r: random.Random) -> str:
    return r.choice(
        [
            f"Here's the screenshot of the settings page: ![api keys page](data:image/png;base64,{png_b64(r)})",
            f"The key frame thumbnail is data:image/jpeg;base64,{jpeg_b64(r)} and it renders fine in Chrome.",
            f'<img alt="diagram of the token flow" src="data:image/png;base64,{png_b64(r, 90)}" />',
            f"Caption: token refresh sequence (base64 PNG, truncated): {png_b64(r, 40)}…",
        ]
    )


def ids(r: random.Random) -> str:
    return r.choice(
        [
            f"trace_id={hexs(r, 32)} span_id={hexs(r, 16)} user={uuid(r)} took {r.randint(5, 900)}ms",
            f"The idempotency key for that retry was {uuid(r)}, so Stripe returned the original charge.",
            f"Job {ulid(r)} failed after 3 attempts; the next one, {ulid(r)}, succeeded.",
            f"Memory {uuid(r)} was merged into {uuid(r)} by the optimizer.",
            f"[{when(r)}] INFO  request_id={uuid(r)} method=POST path=/api/v1/tokens status=201 duration_ms={r.randint(1, 300)}",
            f"[{when(r)}] WARN  auth: rejected key id={uuid(r)} reason=revoked",
        ]
    )


def ssh_keys(r: random.Random) -> str:
    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00 " + r.randbytes(32)).decode()
    return r.choice(
        [
            f"Add my public key to the deploy user:\n\nssh-ed25519 {blob} dev@laptop",
            f"The host key fingerprint is SHA256:{b64(r, 32).rstrip('=')}; accept it when prompted.",
            f"-----BEGIN PUBLIC KEY-----\n{b64(r, 48)}\n{b64(r, 48)}\n-----END PUBLIC KEY-----\nThat's the public key for verifying the JWTs.",
        ]
    )


def prose_keywords(r: random.Random) -> str:
    return r.choice(
        [
            "The token budget is 200k tokens per request; we're using about 40k for the system prompt and tools.",
            "Key takeaway: the search is dominated by the embedding call, not SQLite.",
            "I rotated the staging keys yesterday; production rotates on Friday.",
            "We keep secrets in Vault under secret/data/prod/api and the app reads them through the agent sidecar.",
            "Passwords must be at least 12 characters; we check them against the breached-passwords list.",
            "The credential helper caches the GitHub token in the macOS keychain, so `git push` no longer prompts.",
            "Primary key, foreign key, sort key: DynamoDB's terms don't map one-to-one onto ours.",
            "She passed the auth tests but the token refresh test still flakes about 1 in 50 runs.",
            "The secret sauce is the reciprocal rank fusion; BM25 alone ranks the long memories too high.",
            "Use the keyboard shortcut Cmd+K to open the command palette.",
            "Auth is handled by the gateway; the service only sees the user id in a header.",
        ]
    )


def b62(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.ascii_letters + string.digits) for _ in range(n))


def misc(r: random.Random) -> str:
    """Random-looking values that are not secrets: object ids, hashes of files, challenges."""
    return r.choice(
        [
            f"The payment intent pi_{b62(r, 24)} succeeded but the webhook for customer cus_{b62(r, 14)} never arrived.",
            f'<script src="https://cdn.jsdelivr.net/npm/htmx.org@2.0.4" integrity="sha384-{b64(r, 48)}" crossorigin="anonymous"></script>',
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{hexs(r, 64)}\nsize {r.randint(1000, 99999999)}",
            f"The build emitted dist/assets/index-{b62(r, 8)}.js and chunk-{hexs(r, 8)}.css; the hash changes on every content change.",
            f"PKCE: code_challenge={base64.urlsafe_b64encode(r.randbytes(32)).decode().rstrip('=')}&code_challenge_method=S256, then exchange the code for a token.",
            f"Video: https://www.youtube.com/watch?v={b62(r, 11)} (the part about key rotation starts at 12:40)",
            f'annotations:\n  checksum/config: {hexs(r, 64)}\n  kubectl.kubernetes.io/restartedAt: "{when(r)}"',
            f"The CID of the pinned build is bafybei{''.join(r.choice('abcdefghijklmnopqrstuvwxyz234567') for _ in range(52))}.",
            'className="flex items-center justify-between gap-4 rounded-lg border border-gray-200 px-4 py-2 text-sm"',
            f"Die Suche nach dem Schlüssel dauert {r.randint(2, 40)} ms; der Token wird nach 15 Minuten ungültig. İstanbul ekibi de onayladı.",
            f"向量索引重建完成，耗时 {r.randint(2, 90)} 秒。token 过期时间改为 15 分钟。",
            f'Upload finished: s3://acme-artifacts/builds/{uuid(r)}/wheel.tar.gz (ETag "{hexs(r, 32)}")',
            f"df.head():\n   id  tokens  score\n0  {r.randint(1, 9)}  {r.randint(10, 999)}  0.{r.randint(10, 99)}\n1  {r.randint(1, 9)}  {r.randint(10, 999)}  0.{r.randint(10, 99)}",
            f"The Sentry event {hexs(r, 32)} has the full breadcrumb trail, including the token refresh.",
        ]
    )


def long_paste(r: random.Random) -> str:
    """A pasted log or file of 5-20k characters."""
    parts: list[str] = []
    size = r.randint(5_000, 20_000)
    gens: list[Gen] = [stack_trace, git_log, ids, shell_session, lockfile, python_code, yaml_config, js_trace]
    while sum(map(len, parts)) < size:
        parts.append(r.choice(gens)(r))
    return "\n".join(parts)[:size]


TEMPLATES: list[tuple[Gen, int]] = [
    (chat_question, 14),
    (chat_answer, 14),
    (git_log, 4),
    (git_oneline, 4),
    (git_diff, 3),
    (sha_mention, 6),
    (stack_trace, 6),
    (js_trace, 3),
    (python_code, 10),
    (ts_code, 4),
    (go_code, 2),
    (sql_code, 3),
    (yaml_config, 5),
    (env_example, 2),
    (shell_session, 8),
    (lockfile, 5),
    (versions, 4),
    (urls, 5),
    (images, 3),
    (ids, 5),
    (ssh_keys, 2),
    (prose_keywords, 8),
    (misc, 6),
]


def message(r: random.Random) -> str:
    """One message: one to three fragments, the first often a chat line, sometimes a long paste."""
    if r.random() < 0.04:
        return chat_question(r) + "\n\n" + long_paste(r)
    gens = [g for g, _ in TEMPLATES]
    weights = [w for _, w in TEMPLATES]
    return "\n\n".join(g(r) for g in r.choices(gens, weights, k=r.choice([1, 1, 1, 2, 2, 3])))


def dev_conversation(n: int = 600, seed: int = 20) -> list[str]:
    """``n`` distinct messages, the same on every run."""
    r = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(message(r), None)
    return list(seen)
