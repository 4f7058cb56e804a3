"""What the collection handlers and the inspection routes share: the store, the sessions, the
scripted faults and the answer times of one running emulator."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._faults import AnswerTimes, Fault
from ._forward import Upstream
from ._sessions import Sessions
from ._store import Store


@dataclass
class EmulatorState:
    store: Store
    sessions: Sessions
    expose_location: bool = True
    upstream: Upstream | None = None
    faults: list[Fault] = field(default_factory=list)
    answer_times: AnswerTimes = field(default_factory=AnswerTimes)

    def take_fault(self, endpoint: str, event_type: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.matches(endpoint, event_type):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None
