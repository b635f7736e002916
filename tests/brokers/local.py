"""Private nodes of the locally installed rabbitmq-server: each on its own
node name, ports, epmd, data directory and Erlang cookie; the system's own
broker (5672) and epmd (4369) are never touched."""

import functools
import os
import signal
import subprocess
from pathlib import Path

from .base import LOOPBACK, Broker, free_port, wait_until

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


class LocalNode(Broker):
    """address: a loopback address of the node's own, for AMQP and the Erlang
    distribution, listening and connecting (so that iptables can tell its
    traffic apart), with a long node name NAME@ADDRESS; its epmd listens on
    epmd_addresses. Without one, 127.0.0.1 and NAME@localhost."""

    def __init__(
        self, base_dir, name=None, cookie="work-queues-test-cookie", extra_config="", epmd_port=None,
        address=None, epmd_addresses=None,
    ):
        self.base_dir = Path(base_dir)
        self.address = address
        self.host = address or LOOPBACK
        self.epmd_addresses = epmd_addresses or [self.host]
        self.node = f"{name or f'wq-test-{os.getpid()}'}@{address or 'localhost'}"
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = epmd_port or free_port()  # an epmd of our own, not the system's 4369
        self.home = self.base_dir / "home"  # the Erlang cookie lives in $HOME
        self.home.mkdir(parents=True, exist_ok=True)
        cookie_file = self.home / ".erlang.cookie"
        cookie_file.write_text(cookie)
        cookie_file.chmod(0o400)
        (self.base_dir / "enabled_plugins").write_text("[].\n")
        (self.base_dir / "rabbitmq.conf").write_text(extra_config)
        (self.base_dir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        self.pid_file = self.base_dir / "node.pid"

    @staticmethod
    def installed():
        return (RABBITMQ_BIN / "rabbitmq-server").exists()

    def env(self):
        env = dict(os.environ)
        env.update(
            HOME=str(self.home),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS=",".join(self.epmd_addresses),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_USE_LONGNAME="true" if self.address else "false",
            RABBITMQ_NODE_IP_ADDRESS=self.host,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base_dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base_dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base_dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base_dir / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base_dir / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=distribution_erl_args(self.host, connect_from=self.address),
            ERL_CRASH_DUMP=str(self.base_dir / "erl_crash.dump"),
        )
        return env

    def log_text(self):
        """The node's log so far."""
        log = self.base_dir / "log" / f"{self.node}.log"
        return log.read_text(errors="replace") if log.exists() else f"(no log: {log})"

    def ctl(self, *args, timeout=60, check=True):
        return subprocess.run(
            [RABBITMQ_BIN / "rabbitmqctl", "-n", self.node, *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout, check=check,
        )

    def rabbitmqctl(self, *args):
        """rabbitmqctl ARGS on this node, as its operator types it; its stdout."""
        return self.ctl(*args).stdout

    def import_definitions(self, path):
        self.ctl("import_definitions", str(path))

    def launch(self):
        """Start the node's process, and return before it has booted."""
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(
            [RABBITMQ_BIN / "rabbitmq-server", "-detached"],
            env=self.env(), check=True, capture_output=True, timeout=30,
        )

    def wait_booted(self, timeout=90):
        wait_until(self.pid_file.exists, 30, f"{self.node} to write its pid file")
        waited = self.ctl("wait", "--timeout", str(timeout), str(self.pid_file), timeout=timeout + 10, check=False)
        if waited.returncode != 0:
            raise TimeoutError(
                f"{self.node} did not boot within {timeout} s ({waited.stderr.strip()}); the end of its log:\n"
                + self.log_text()[-3000:]
            )
        self.wait_accepts_amqp(30)

    def start(self):
        self.launch()
        self.wait_booted()
        return self

    def pid(self):
        return int(self.pid_file.read_text().strip())

    def running(self):
        try:
            os.kill(self.pid(), 0)
            return True
        except (OSError, ValueError):
            return False

    def crash(self):
        """SIGKILL, as a power cut would: no chance to flush or say goodbye."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.running(), 30, f"{self.node} to die")

    def pause(self):
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid(), signal.SIGCONT)

    def stop(self):
        if self.running():
            self.ctl("stop", timeout=120, check=False)
            wait_until(lambda: not self.running(), 60, f"{self.node} to stop")

    def end_epmd(self):
        """End the epmd the node started. It refuses while a node is registered:
        rabbitmqctl's own may still be leaving."""

        def ended():
            answer = subprocess.run(
                ["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True, text=True, timeout=30
            )
            return answer.stdout.startswith("Killed") or "Cannot connect" in answer.stderr

        wait_until(ended, 30, f"the epmd on port {self.epmd_port} to end")

    def remove(self):
        self.stop()  # the data and logs stay for a post-mortem; pytest prunes old temp dirs
        self.end_epmd()


def distribution_erl_args(address, connect_from=None):
    """Erlang flags that make the node's distribution listen on `address`
    only and, with connect_from, connect to other nodes from that address:
    else they leave from 127.0.0.1 and no iptables rule of a node's address
    matches them."""
    erlang_address = "{" + address.replace(".", ",") + "}"
    args = f"-kernel inet_dist_use_interface {erlang_address}"
    if connect_from:
        args += f" -kernel inet_dist_connect_options [{{ip,{erlang_address}}}]"
    return args


def boot_local_nodes(nodes):
    """Boot local nodes that are to form one cluster. On RabbitMQ 3.x the
    first boots alone, then the rest join it: started all at once they take
    turns through peer discovery's lock anyway, slower (measured: formed in
    24-40 s this way, 30-56 s at once, on 2 busy cores), and once in CI one of
    them was not up after 90 s. 4.x makes a node that boots alone wait for its
    peers, so there they start together."""
    first, rest = (nodes[:1], nodes[1:]) if local_rabbitmq_major() < 4 else ([], nodes)
    for group in (first, rest):
        for node in group:
            node.launch()
        for node in group:
            node.wait_booted()


@functools.cache
def local_rabbitmq_major():
    """The major version of the installed rabbitmq-server, from its folder's name."""
    folder = next((RABBITMQ_BIN.parent / "lib").glob("rabbitmq_server-*"))
    return int(folder.name.removeprefix("rabbitmq_server-").split(".")[0])
