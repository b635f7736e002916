"""A connection and a channel that speak pika: the calls the tutorial
makes, with pika's names (connect's connection.channel(), queue_declare,
basic_qos, basic_consume, start_consuming, basic_ack; confirm_delivery,
basic_publish, close), on a session that survives what pika's
BlockingConnection does not.

Each call of the set-up is recorded, then sent, and returns once the broker
has answered, within --timeout. On every new connection (the worker
reconnects) the whole set-up is sent again, in order, before the worker
consumes again: the script reads as if there were one connection for ever.
The lines the script prints during its set-up (' [*] Waiting for messages')
show once it is all answered, on each connection: the worker is consuming
when it says it waits.
What ends a connection, and what a script does then, is its side's: the
worker's in workqueue/consuming.py, new_task.py's in workqueue/publishing.py.
"""

from workqueue import output, signals
from workqueue.session import Request, Session
from workqueue.topology import TaskQueue


def connect(settings):
    """pika.BlockingConnection(parameters)'s place: connected when it returns.
    The worker waits for a broker that is not up yet; new_task.py does not."""
    connection = Connection(settings)
    connection.run_until(lambda: connection.session.channel is not None)
    return connection


class Step:
    """One request of the set-up."""

    def __init__(self, request):
        self.request = request

    def requests(self):
        return [self.request]

    def set_up(self):
        pass


class Connection:
    def __init__(self, settings):
        if settings.worker:
            from workqueue.consuming import Consumer as Side
        else:
            from workqueue.publishing import Publisher as Side
        output.line_by_line()
        self.session = Session(settings, self._opened, self._channel_closed, self._ended, self._bug)
        self.session.ioloop.activate_poller()  # the loop is turned by hand: run_until, and the tasks thread
        self.setup = []  # what the script set up, in order: Steps and TaskQueues
        self.lines = []  # what it printed meanwhile
        self.done = 0  # how many steps the channel open now has had
        self.recording = False  # the script is setting up
        self._requests = None  # the requests left of the step being sent, and that step
        self._step = self._asking = None
        self.queues = {}  # name: the TaskQueue declared
        self.facade = Channel(self)
        self.side = Side(self, settings)
        signals.catch(self.session.ioloop, self.side.on_signal, *self.side.SIGNALS)
        self.session.connect(settings.parameters)

    def channel(self):
        """The channel (pika's connection.channel()): the set-up recorded from here on."""
        self.recording = True
        output.recording(self.lines.append)
        return self.facade

    def close(self):
        self.side.close()

    def run_until(self, done):
        """Turns of the I/O loop until done(): the set-up's calls wait so."""
        ioloop = self.session.ioloop
        while not done():
            ioloop.poll()
            ioloop.process_timeouts()

    # The set-up, recorded, then sent on this channel and each new one.
    def set_up(self, step):
        """Record `step`, send it, and return once it is answered."""
        self.setup.append(step)
        if self._step is None and self.session.channel is not None:
            self.session.guarded(self._next)()
        self.run_until(lambda: self.done == len(self.setup))

    def set_up_done(self):
        """No more set-up: the script consumes or publishes now."""
        if self.recording:
            self.recording = False
            output.recording(None)
            self._say_lines()

    def queue(self, name):
        return self.queues[name]

    def _say_lines(self):
        try:
            for line in self.lines:
                output.say(line)
        except output.OutputLost as lost:
            output.drop()
            self.side.output_lost(str(lost))

    def _opened(self, channel):
        self.done, self._step = 0, None
        self.side.opened(channel)
        self._next()

    def _next(self, _frame=None):
        """Send the set-up's next request, each once the one before is answered."""
        while True:
            if self._step is None:
                if self.done == len(self.setup):
                    return
                self._step = self.setup[self.done]
                self._requests = iter(self._step.requests())
            request = next(self._requests, None)
            if request is not None:
                self._asking = request
                self.session.ask(request, self._next)
                return
            step, self._step, self._asking = self._step, None, None
            self.done += 1
            step.set_up()
            if self.done == len(self.setup) and not self.recording:
                self._say_lines()  # set up again, on a new connection

    # What ends a channel or a connection.
    def _channel_closed(self, reason, asked):
        self._step = None
        queues = self.queues.values()
        if self._asking is not None and any(queue.mend(reason, self._asking) for queue in queues):
            return None  # set up again, on a new channel
        return self.side.channel_closed(reason, asked)

    def _ended(self, problem):
        self._step = self._asking = None
        self.side.ended(problem)

    def _bug(self, exc):
        self.side.bug(exc)


class Channel:
    """The channel the scripts use: pika's names and arguments, the subset
    the tutorial calls."""

    def __init__(self, connection):
        self._connection = connection
        self._side = None

    def queue_declare(self, queue, durable=False, arguments=None):
        task_queue = TaskQueue(queue, durable, arguments)
        self._connection.queues[queue] = task_queue
        self._connection.set_up(task_queue)

    def basic_qos(self, prefetch_count=0):
        self._connection.set_up(Step(Request("answer basic.qos", lambda channel, done: (
            channel.basic_qos(prefetch_count=prefetch_count, callback=done)))))

    # The worker's.
    def basic_consume(self, queue, on_message_callback, auto_ack=False):
        """on_message_callback(channel, method, properties, body) for each task,
        off the I/O loop: its task is done once it calls basic_ack, failed if it
        raises (tried again later, then parked)."""
        for request in self._connection.side.basic_consume(self, queue, on_message_callback, auto_ack):
            self._connection.set_up(Step(request))

    def start_consuming(self):
        self._connection.set_up_done()
        self._connection.side.start_consuming()

    def basic_ack(self, delivery_tag=0, multiple=False):
        self._connection.side.basic_ack(delivery_tag, multiple)

    # new_task.py's.
    def confirm_delivery(self, ack_nack_callback):
        """Publisher confirms: ack_nack_callback(body) for each message the
        broker has confirmed, in the order they were published."""
        self._connection.set_up(Step(self._connection.side.confirm_delivery(ack_nack_callback)))

    def basic_publish(self, exchange, routing_key, body, properties=None, mandatory=True):
        """Publish, without waiting for the confirm (confirm_delivery's callback
        hears it). Unroutable messages come back (mandatory): they count as refused."""
        self._connection.set_up_done()
        self._connection.side.basic_publish(exchange, routing_key, body, properties)
