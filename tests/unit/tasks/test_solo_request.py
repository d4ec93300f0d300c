"""The demo's requests are tau2's: the shipped real mock tasks are the installed tau2's, and the solo request built
without tau2 carries exactly the system prompt and tool names tau2's solo agent sends."""

from __future__ import annotations

from taustack.tasks.solo_request import matches, real_mock_tasks, solo_request


def test_the_shipped_real_tasks_are_the_installed_tau2_s() -> None:
    from taustack.eval import tau2_26_3 as tau2

    installed = [tau2.task_dict(t) for t in tau2.load_tasks("mock", None, None, None, "no-user")]
    assert [(t["id"], t["ticket"], [{"name": a["name"], "arguments": a["arguments"]}
                                    for a in t["evaluation_criteria"]["actions"]]) for t in installed] == [
        (t["id"], t["ticket"], t["actions"]) for t in real_mock_tasks()]


def test_a_solo_request_is_what_tau2_s_solo_agent_sends() -> None:
    from taustack.trainer.tau2_episode import Episode, system_prompts

    tasks = real_mock_tasks()
    prompts = system_prompts("mock", [t["id"] for t in tasks], True)
    for task, prompt in zip(tasks, prompts, strict=True):
        messages, tools = solo_request(task["ticket"])
        assert messages == [{"role": "system", "content": prompt}]
    episode = Episode("mock", tasks[0]["id"], True, 10)
    episode.start()
    assert [t["function"]["name"] for t in tools] == [t["function"]["name"] for t in episode.tools()]
    episode.stop()


def test_a_call_matches_the_gold_action_as_tau2_compares_it() -> None:
    create, transfer = real_mock_tasks()[0]["actions"][0], real_mock_tasks()[-1]["actions"][0]
    assert matches("create_task", {"user_id": "user_1", "title": "Important Meeting"}, create)
    assert not matches("create_task", {"user_id": "user_1", "title": "Important meeting"}, create)
    assert matches("transfer_to_human_agents", {"summary": "anything"}, transfer)
    assert not matches("done", {}, transfer)
