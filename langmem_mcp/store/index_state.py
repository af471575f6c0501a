"""Where each memory stands in the index: the vocabulary the store writes and the index worker reads."""

from __future__ import annotations

from enum import IntEnum


class Indexed(IntEnum):
    """`memories.indexed`: where a row's vector stands, i.e. what the index worker still has to
    make. Only INDEXED is final. (`memories.context_stale` says, apart, that a neighbour changed
    and the row's context must be worked out again.)"""

    #: No vector yet (a model change, a data dir from before vectors were kept).
    MISSING = 0
    #: Done: the vector of the configured kind is kept in SQLite (and in Chroma for a large
    #: namespace), made from the row's current text and context.
    INDEXED = 1
    #: A usable vector of a bulk write, to be remade as configured when the worker is idle.
    UPGRADE = 2
    #: Just written: the vector kept is its own text's; context and final vector still to do.
    FRESH = 3
    #: Context worked out; the vector kept is its own text's; the final vector is to be made.
    OWN = 4
    #: Context worked out and changed; the vector kept is an older one; a new one is to be made.
    STALE = 5
    #: Written in bulk: like FRESH, but the final vector waits until the worker is idle.
    FRESH_BULK = 6


#: Marks the memories within ?3 rows of rowid ?2 in namespace ?1 for the index worker: their
#: context may hold the memory at ?2, which changed.
SEND_BACK_NEIGHBOURS = (
    "UPDATE memories SET context_stale = 1 WHERE rowid IN "
    "(SELECT rowid FROM (SELECT rowid FROM memories WHERE namespace = ?1 AND rowid < ?2 "
    "ORDER BY rowid DESC LIMIT ?3) UNION ALL SELECT rowid FROM (SELECT rowid FROM memories "
    "WHERE namespace = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3))"
)
#: States whose kept vector is not in a large namespace's Chroma collection yet: a search there
#: scores them exactly beside the approximate hits, so a write is found by meaning at once.
NOT_IN_COLLECTION = (Indexed.FRESH, Indexed.OWN, Indexed.FRESH_BULK)
