"""What the attendee types while `follow` runs: commands, or the answer to a question.

One reader of standard input (terminal.stdin_lines) feeds this router; while a question is
asked (`follow --confirm`), the next line answers it instead of being a command. No answer
within the timeout, or no input at all (closed or never opened), means no.
"""

from __future__ import annotations

import asyncio

from bridge.commands.terminal import say

YES = ("y", "yes")


class TypedInput:
    def __init__(self, lines: asyncio.Queue[str | None]) -> None:
        self._lines = lines
        self._commands: asyncio.Queue[str | None] = asyncio.Queue()
        self._question: asyncio.Future[str | None] | None = None
        self.closed = False

    async def pump(self) -> None:
        """Route every typed line; runs until input ends (its owner cancels it otherwise)."""
        while True:
            line = await self._lines.get()
            if line is None:
                self.closed = True
            if self._question is not None and not self._question.done():
                self._question.set_result(line)
            elif line is not None:
                self._commands.put_nowait(line)
            if line is None:
                self._commands.put_nowait(None)
                return

    async def command(self) -> str | None:
        """The next typed command; None once input has ended."""
        return await self._commands.get()

    async def ask(self, question: str, *, within: float) -> bool:
        """Ask a yes/no question on the terminal; True only for a typed yes in time."""
        if self.closed:
            say(f"{question} No terminal to answer on: not done.")
            return False
        say(f"{question} Do it? [y/N] (answer within {within:g} s)")
        self._question = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(within):
                answer = await self._question
        except TimeoutError:
            say(f"No answer within {within:g} s: not done.")
            return False
        finally:
            self._question = None
        if answer is None:
            say("Input closed: not done.")
            return False
        if answer.strip().lower() not in YES:
            say("Not done.")
            return False
        return True
