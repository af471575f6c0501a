"""The real `langmem==0.0.3` client against this server's LangMem REST API.

langmem 0.0.3 pins httpx<0.27, which cannot share a virtualenv with chromadb, so run it from a
venv of its own; the server runs from yours:

    langmem-mcp serve --transport http                       # REST at http://127.0.0.1:8765
    python3 -m venv /tmp/langmem-client && /tmp/langmem-client/bin/pip install 'langmem==0.0.3'
    LANGMEM_API_URL=http://127.0.0.1:8765 LANGMEM_API_KEY=anything \\
        /tmp/langmem-client/bin/python examples/langmem_client_rest.py

With no tokens on the server, loopback clients need no key (the client insists on one, so any
value works). With tokens, create one whose prefix covers the user:
`langmem-mcp token create --namespace users/<user uuid>` and pass it as LANGMEM_API_KEY, with
LANGMEM_USER_ID=<user uuid>.
"""

from __future__ import annotations

import os
import uuid

from langmem import Client  # langmem==0.0.3


def main() -> None:
    client = Client()  # LANGMEM_API_URL, LANGMEM_API_KEY
    user_id = os.environ.get("LANGMEM_USER_ID") or str(uuid.uuid4())
    client.create_user(user_id=user_id, name="Will")
    print("user:", client.get_user(user_id))

    thread_id = str(uuid.uuid4())
    client.create_thread(
        thread_id=thread_id,
        messages=[
            {
                "role": "user",
                "content": "I just adopted a beagle called Rufus",
                "metadata": {"user_id": user_id},
            },
            {"role": "assistant", "content": "Congratulations! Beagles are great.", "metadata": {}},
        ],
    )
    client.add_messages(
        thread_id,
        messages=[{"role": "user", "content": "He loves long walks", "metadata": {"user_id": user_id}}],
    )
    print("thread:", client.get_thread(thread_id))
    print("memory functions:", [f.get("name") for f in client.list_memory_functions()])
    client.trigger_all_for_thread(thread_id)  # forms memories now (semantic memory needs no LLM)
    print("query:", client.query_user_memory(user_id, text="pets", k=5))


if __name__ == "__main__":
    main()
