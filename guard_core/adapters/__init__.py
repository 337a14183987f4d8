"""The kit every integration uses: one copy of each rule an adapter must follow.

Framework-free (like the rest of the core); for the adapters in ``guard_core.integrations``
and for anyone writing a fourth:

- :mod:`~guard_core.adapters.boundary`: default deny. ``strings_in`` finds every string an
  object carries (what is not converted precisely is screened as text; what cannot be read
  is refused, naming its path); ``agent_choice``: the developer's agent wins over a client's.
- :mod:`~guard_core.adapters.unscreened`: content blocks the guard models cannot judge
  (audio, video, binary files): the fail-closed error and the ``allow_unscreened`` opt-out.
- :mod:`~guard_core.adapters.streaming`: what each check of an incremental stream sees.
"""

from __future__ import annotations

__all__: list[str] = []
