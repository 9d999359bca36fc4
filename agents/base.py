"""The agent protocol shared by heuristics and learned policies (sustaingym/gym-anm style):
``reset(seed)`` at the start of an episode, then ``act(obs, info) -> action``."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Agent(Protocol):
    name: str

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray: ...
