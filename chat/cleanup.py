"""What a consumer has acquired, let go in one call however the consumer ends.

`contextlib.AsyncExitStack` does this too, but its wrappers cost every socket
about 4 KiB; a list of plain callables costs a few hundred bytes.
"""

import inspect
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Release = Callable[[], Awaitable[object] | object]


class Cleanup:
    """Releases added as things are acquired, run in reverse order by `run`, each once."""

    __slots__ = ("_releases",)

    def __init__(self) -> None:
        self._releases: list[Release] = []

    def add(self, release: Release) -> None:
        """Call `release` (a function, or a coroutine function) when the consumer ends."""
        self._releases.append(release)

    async def run(self) -> None:
        """Release everything, newest first; one release failing or being cancelled does not skip the rest."""
        interrupted: BaseException | None = None
        while self._releases:
            release = self._releases.pop()
            try:
                result = release()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("A clean-up step failed: %r", release)
            except BaseException as exc:  # a cancellation: the rest is still let go, then it goes on
                interrupted = exc
        if interrupted is not None:
            raise interrupted
