"""What `up` checks on the hosts themselves once the images are there: each host's private address answers the front
host on a port the stack uses, and a path a host must have itself (vLLM's model on a shared or copied folder) is
there. Checks start only short-lived containers, removed at once."""

from __future__ import annotations

import time

from taustack.runtime.remote import Host, HostError

LISTENER = "taustack-reach-check"


def dial(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def answers(front: Host, host: Host, port: int, image: str) -> str:
    """The HTTP status the front host gets from host:port (through its own bridge network, as the balancer would), or
    curl's reason when nothing answers."""
    url = f"http://{dial(host.address, port)}/-/gate"
    result = front.run("run", "--rm", "--entrypoint", "curl", image, "-sS", "-m", "5", "-o", "/dev/null",
                       "-w", "%{http_code}", url, check=False)
    code = result.stdout.strip()
    return code if code and code != "000" else (result.stderr.strip().splitlines() or ["no answer"])[-1]


def check_reachable(front: Host, host: Host, port: int, image: str) -> None:
    """host.address:port answers the front host: its gate when it runs, else a listener started there for the check.
    A firewall or a wrong address is one line naming both hosts."""
    if answers(front, host, port, image).isdigit():
        return
    listen = dial(host.address, port)
    config = f"pid /tmp/reach.pid; events {{}} http {{ server {{ listen {listen}; return 204; }} }}"
    host.run("rm", "-f", LISTENER, check=False)
    host.run("run", "-d", "--rm", "--name", LISTENER, "--network", "host", "--entrypoint", "sh", image, "-c",
             f"printf '{config}' > /tmp/reach.conf && exec nginx -c /tmp/reach.conf -g 'daemon off;'")
    try:
        seen = ""
        for _ in range(5):
            seen = answers(front, host, port, image)
            if seen.isdigit():
                return
            time.sleep(0.5)
    finally:
        host.run("rm", "-f", LISTENER, check=False)
    raise HostError(host, f"{listen} does not answer the front host {front.name} ({seen}): the hosts must reach "
                          "each other on the private network (TCP on the replicas' ports and vLLM's group ports)")


def check_path(host: Host, path: str, image: str, inside: str = "") -> None:
    """A folder the host must have itself, and `inside` it when given; never created (a bind mount of a missing path
    would make an empty one)."""
    target = f"/check/{inside}" if inside else "/check"
    # --mount, not -v: -v would create a missing folder on the host
    result = host.run("run", "--rm", "--mount", f"type=bind,source={path},target=/check,readonly",
                      "--entrypoint", "test", image, "-e", target, check=False)
    if result.returncode != 0:
        where = f"{path}/{inside}" if inside else path
        raise HostError(host, f"{where} does not exist there: each host serving this model needs it at the same path "
                              "(a shared filesystem, or a copy at the same place)")
