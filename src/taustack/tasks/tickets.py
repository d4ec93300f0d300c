"""Ticket wordings of generated mock tasks, per kind: the train templates and the held-out ones never share a wording.

Placeholders: {user} a user id, {name} a user's name, {title} a task title, {task} and {task2} task ids, {status}
the new status. A title is always quoted in a ticket (as in tau2's own mock tickets), so the model can tell where it
starts and ends; its words and the ids differ between the train and held-out sets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wordings:
    """One kind's ticket templates and the sentences that may open a ticket, for one side (train or held-out)."""

    templates: tuple[str, ...]
    openers: tuple[str, ...] = ()


TRAIN: dict[str, Wordings] = {
    "create": Wordings((
        "Create a new task called '{title}' for {user}.",
        "User needs a task titled '{title}'. Please create it for {user}.",
        "Please add a task named '{title}' to the list of {user}.",
        "{user} wants a new task: '{title}'.",
        "Make a task '{title}' for user {user}.",
        "Set up a task called \"{title}\" for {user}.",
        "User {user} asked for a new task with the title '{title}'.",
        "New task for {user}, title: '{title}'.",
        "Could you create the task '{title}' for {user}?",
        "Add '{title}' as a new task for {user}.",
        "Register a task titled \"{title}\" under {user}.",
        "For {user}, create a task with the title \"{title}\".",
    ), (
        "User needs to create a task.",
        "The user is planning the week ahead.",
        "User wants to keep track of some work.",
        "A new item came up for the user.",
    )),
    "update": Wordings((
        "User needs to update the status of {task} to {status}.",
        "Mark {task} as {status}.",
        "Please set {task} to {status}.",
        "Change the status of {task} to {status}.",
        "The task {task} should now be {status}.",
        "Set the status of task {task} to '{status}'.",
        "{task} has to be marked {status}.",
        "Update {task}: the new status is {status}.",
    ), (
        "User has news about one of their tasks.",
        "The user is cleaning up their task list.",
    )),
    "transfer": Wordings((
        "User needs to delete {task}.",
        "Please remove all tasks of {user}.",
        "Rename {task} to '{title}'.",
        "Set a due date on {task} for next Friday.",
        "Delete the user account {user}.",
        "Move {task} from {user} to another user.",
        "Give {task} a high priority.",
        "Archive every completed task of {user}.",
        "User wants to delete all of their tasks.",
        "Change the description of {task}.",
    ), (
        "User has an unusual request.",
        "The user is reorganizing their work.",
    )),
    "lookup": Wordings((
        "Create a task called '{title}' for {name}.",
        "{name} needs a new task titled '{title}'.",
        "Add the task '{title}' for the user named {name}.",
        "Please make a task \"{title}\" for {name}.",
        "User {name} asked for a task with the title '{title}'.",
        "New task '{title}' for {name}, please.",
    ), (
        "The user only knows the name, not the user id.",
        "User needs to create a task.",
    )),
    "create_complete": Wordings((
        "Create a task called '{title}' for {user} and mark it as completed.",
        "{user} already finished '{title}': add it as a task and set it to completed.",
        "Add a task titled \"{title}\" for {user}, then mark that task completed.",
        "Make the task '{title}' for {user} and set its status to completed right away.",
    ), ()),
    "update_two": Wordings((
        "Mark {task} and {task2} as {status}.",
        "Set both {task} and {task2} to {status}.",
        "User needs {task} and then {task2} updated to {status}.",
        "Change the status of {task} and of {task2} to {status}.",
    ), ()),
}

HELD_OUT: dict[str, Wordings] = {
    "create": Wordings((
        "Open a fresh task for {user} and title it '{title}'.",
        "{user} would like to have a task labelled '{title}' created.",
        "Kindly put together a task, '{title}', belonging to {user}.",
        "A task named \"{title}\" should be created on behalf of {user}.",
        "Start a task for {user}; its title is '{title}'.",
        "Create '{title}' for {user} as a task please.",
    ), (
        "Someone on the team asked for help.",
        "The user is getting organized.",
    )),
    "update": Wordings((
        "Switch {task} over to {status}, please.",
        "{task} needs its status changed to {status}.",
        "Could you flag {task} as {status}?",
        "Update {task} so that it shows {status}.",
    ), (
        "A quick status change is needed.",
    )),
    "transfer": Wordings((
        "Erase {task} from the system.",
        "{user} wants their entire task list wiped.",
        "Change the title of {task} to '{title}'.",
        "Attach a file to {task}.",
        "Hand {task} over to a different user.",
    ), (
        "A request came in from the user.",
    )),
    "lookup": Wordings((
        "Please file '{title}' as a new task for {name}.",
        "A task titled \"{title}\" is needed by {name}.",
        "{name} asked us to open the task '{title}'.",
    ), (
        "Only the user's name is known.",
    )),
    "create_complete": Wordings((
        "Log '{title}' for {user} as a task that is already completed.",
        "{user} is done with '{title}'; create the task and close it as completed.",
    ), ()),
    "update_two": Wordings((
        "{task} as well as {task2} should be {status}.",
        "Flag {task} and also {task2} as {status}.",
    ), ()),
}

# the statuses an update can set, and the status the task has before it (so the update changes the database)
OPPOSITE = {"completed": "pending", "pending": "completed"}
