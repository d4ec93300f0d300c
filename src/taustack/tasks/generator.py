"""Seeded generator of tau2 mock-domain tasks in tau2's own task format (tasks.json entries).

Each task sets up its users and tasks through tau2's initial data (merged into the mock database: user_1 and task_1
stay), carries a solo-mode ticket, and is judged on tau2's database check (transfers also on the action). The train
and held-out sets draw title words, names and id numbers from disjoint pools and word their tickets with disjoint
templates (tickets.py), so a held-out task shares no wording, title or id with training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from taustack.tasks.tickets import HELD_OUT, OPPOSITE, TRAIN, Wordings
from taustack.tasks.words import FIRST_NAMES, LAST_NAMES, TITLE_WORDS, words

SIDES = ("train", "heldout")
# the share of each kind in a generated set (the held-out mix is the same)
MIX: dict[str, float] = {"create": 0.3, "update": 0.25, "transfer": 0.15, "lookup": 0.15,
                         "create_complete": 0.1, "update_two": 0.05}
KINDS = tuple(MIX)
POOL_SEED = 20260  # the train/held-out split of words, names and numbers: fixed, whatever seed a set is made with
HELD_OUT_SHARE = 0.25
# no generated id is one of the real mock tasks' (user_1, task_1, task_2); a task's own ids avoid the ids tau2 will
# give the tasks it creates (task_<count + 1>: see TaskMaker.task_ids); ids have 1 to 3 digits, each as likely
USER_NUMBERS = range(2, 1000)
TASK_NUMBERS = range(3, 1000)
LARGEST_WORLD = 6  # base task_1 + at most 3 added tasks + 2 created: tau2's new ids stay within task_2..task_6
TRANSFER_SUMMARY = "The user asks for something the available tools cannot do."
Action = tuple[str, dict[str, Any]]  # a gold action: tool name, arguments


@dataclass(frozen=True)
class Pools:
    """What one side's tasks are made of."""

    title_words: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    user_numbers: tuple[int, ...]
    task_numbers: tuple[int, ...]
    wordings: dict[str, Wordings]


def _split(items: list[Any], rng: random.Random) -> tuple[list[Any], list[Any]]:
    shuffled = list(items)
    rng.shuffle(shuffled)
    cut = int(len(shuffled) * HELD_OUT_SHARE)
    return sorted(shuffled[cut:]), sorted(shuffled[:cut])


def pools(side: str) -> Pools:
    """The train or held-out pools (the split is fixed by POOL_SEED)."""
    if side not in SIDES:
        raise ValueError(f"side {side!r}: train or heldout")
    rng = random.Random(POOL_SEED)
    parts = [_split(values, rng) for values in (words(TITLE_WORDS), words(FIRST_NAMES), words(LAST_NAMES),
                                                list(USER_NUMBERS), list(TASK_NUMBERS))]
    index = 0 if side == "train" else 1
    chosen = [tuple(part[index]) for part in parts]
    return Pools(chosen[0], chosen[1], chosen[2], chosen[3], chosen[4], TRAIN if side == "train" else HELD_OUT)


class TaskMaker:
    """Makes one side's tasks; every random choice comes from its own seeded generator."""

    def __init__(self, side: str, seed: int) -> None:
        self.side, self.seed = side, seed
        self.pools = pools(side)
        self.rng = random.Random(f"{side}:{seed}")

    def title(self) -> str:
        count = self.rng.choice((1, 2, 2, 2, 3, 3))
        chosen = self.rng.sample(self.pools.title_words, count)
        text = " ".join(chosen)
        return text.title() if self.rng.random() < 0.8 else text.capitalize()

    def name(self) -> str:
        return f"{self.rng.choice(self.pools.first_names)} {self.rng.choice(self.pools.last_names)}".title()

    def numbers(self, pool: tuple[int, ...], count: int, avoid: range = range(0)) -> list[int]:
        """`count` distinct numbers of the pool, each of 1, 2 or 3 digits with the same chance."""
        chosen: list[int] = []
        while len(chosen) < count:
            digits = self.rng.choice((1, 2, 3))
            candidates = [n for n in pool if len(str(n)) == digits and n not in avoid and n not in chosen]
            if candidates:
                chosen.append(self.rng.choice(candidates))
        return chosen

    def user_ids(self, count: int) -> list[str]:
        return [f"user_{n}" for n in self.numbers(self.pools.user_numbers, count)]

    def task_ids(self, count: int, creates: bool) -> list[str]:
        """Ids of existing tasks; a task that creates one keeps clear of the ids tau2 will number it with."""
        avoid = range(1, LARGEST_WORLD + 1) if creates else range(0)
        return [f"task_{n}" for n in self.numbers(self.pools.task_numbers, count, avoid)]

    def world(self, users: int, tasks: int, creates: bool) -> tuple[dict[str, Any], list[str], list[str]]:
        """Initial data with `users` new users (distinct names) and `tasks` new tasks spread over them."""
        user_ids, task_ids = self.user_ids(users), self.task_ids(tasks, creates)
        names: list[str] = []
        while len(names) < users:
            candidate = self.name()
            if candidate not in names:
                names.append(candidate)
        data: dict[str, Any] = {"users": {u: {"user_id": u, "name": n, "tasks": []} for u, n in zip(user_ids, names,
                                                                                                 strict=True)},
                                "tasks": {}}
        for task_id in task_ids:
            owner = self.rng.choice(user_ids)
            data["users"][owner]["tasks"].append(task_id)
            data["tasks"][task_id] = {"task_id": task_id, "title": self.title(), "description": None,
                                      "status": self.rng.choice(("pending", "completed"))}
        return data, user_ids, task_ids

    def ticket(self, kind: str, **values: str) -> str:
        wordings = self.pools.wordings[kind]
        text = self.rng.choice(wordings.templates).format(**values)
        if wordings.openers and self.rng.random() < 0.4:
            text = f"{self.rng.choice(wordings.openers)} {text}"
        return text

    def make(self, kind: str) -> tuple[str, dict[str, Any], list[Action]]:
        """(ticket, initial data, gold actions as (name, arguments)) of one task of `kind`."""
        if kind in ("create", "lookup", "create_complete"):
            data, users, _ = self.world(self.rng.randint(1, 4), self.rng.randint(0, 3), creates=True)
            user, title = self.rng.choice(users), self.title()
            name = data["users"][user]["name"]
            ticket = self.ticket(kind, user=user, title=title, name=name)
            created = f"task_{len(data['tasks']) + 2}"  # tau2 numbers a new task by the count (task_1 included)
            actions: list[Action] = ([("get_users", {})] if kind == "lookup" else []) + [
                ("create_task", {"user_id": user, "title": title})]
            if kind == "create_complete":
                actions.append(("update_task_status", {"task_id": created, "status": "completed"}))
            return ticket, data, actions
        if kind in ("update", "update_two"):
            status = self.rng.choice(("completed", "completed", "pending"))
            data, _, tasks = self.world(self.rng.randint(1, 3), self.rng.randint(2, 4), creates=False)
            targets = self.rng.sample(tasks, 2 if kind == "update_two" else 1)
            for target in targets:
                data["tasks"][target]["status"] = OPPOSITE[status]
            ticket = self.ticket(kind, task=targets[0], task2=targets[-1], status=status)
            return ticket, data, [("update_task_status", {"task_id": t, "status": status}) for t in targets]
        data, users, tasks = self.world(self.rng.randint(1, 3), self.rng.randint(1, 3), creates=False)
        ticket = self.ticket(kind, user=self.rng.choice(users), task=self.rng.choice(tasks), title=self.title())
        return ticket, data, [("transfer_to_human_agents", {"summary": TRANSFER_SUMMARY})]


def tau2_task(task_id: str, kind: str, ticket: str, data: dict[str, Any], actions: list[Action],
              note: str) -> dict[str, Any]:
    """One task in tau2's format; transfers are judged on the action (any summary), the rest on the database."""
    gold = []
    for number, (name, arguments) in enumerate(actions, start=1):
        action: dict[str, Any] = {"action_id": f"{kind}_{number}", "name": name, "arguments": arguments}
        if name == "transfer_to_human_agents":
            action["compare_args"] = []
        gold.append(action)
    return {
        "id": task_id,
        "description": {"purpose": f"generated mock task: {kind}", "notes": note},
        "user_scenario": {"instructions": ticket},
        "ticket": ticket,
        "initial_state": {"initialization_data": {"agent_data": data}},
        "evaluation_criteria": {"actions": gold,
                                "reward_basis": ["DB", "ACTION"] if kind == "transfer" else ["DB"]},
    }


def kind_counts(count: int, mix: dict[str, float] | None = None) -> dict[str, int]:
    """How many tasks of each kind a set of `count` has (largest remainders, so they sum to count)."""
    mix = mix or MIX
    total = sum(mix.values())
    exact = {kind: count * share / total for kind, share in mix.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    for kind in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:count - sum(counts.values())]:
        counts[kind] += 1
    return counts


def generate(side: str, count: int, seed: int, mix: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """`count` tasks of one side (train or heldout), kinds in the given mix, ids `<side>-<seed>-<n>-<kind>`."""
    maker = TaskMaker(side, seed)
    kinds = [kind for kind, n in kind_counts(count, mix).items() for _ in range(n)]
    maker.rng.shuffle(kinds)
    tasks, tickets = [], set()
    for number, kind in enumerate(kinds):
        ticket, data, actions = maker.make(kind)
        while ticket in tickets:  # every ticket of a set is distinct
            ticket, data, actions = maker.make(kind)
        tickets.add(ticket)
        tasks.append(tau2_task(f"{side}-{seed}-{number:05d}-{kind}", kind, ticket, data, actions,
                               f"taustack tasks generate --side {side} --seed {seed}"))
    return tasks


def kind_of(task: dict[str, Any]) -> str:
    """A generated task's kind (from its id); `real` for any other task."""
    kind = str(task.get("id", "")).rsplit("-", 1)[-1]
    return kind if kind in MIX else "real"
