"""The cyclic garbage collector, paused while a stdio server starts.

Start-up (importing the SDK and pydantic, building every tool's schema) allocates ~130k objects
and frees almost none, so the collections it triggers find nothing and only slow the handshake
(≈5 % of spawn → tools/list). `serve` pauses collection first; `ServerContext.ready` resumes it once
the host has its tool list, freezing what start-up made (it lives as long as the process) out
of every later collection.
"""

from __future__ import annotations

import gc


def pause() -> None:
    gc.disable()


def resume() -> None:
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
