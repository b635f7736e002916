"""A network partition of a three-node cluster: one node cut off from the two
others by iptables while clients still reach all three (see brokers.py's
PartitionableCluster): local RabbitMQ 3.x nodes, or 4.x containers on the
host's network where the tests run on Docker."""

import pytest

from brokers import delete_drop_rule, drop_rule, iptables, own_cluster


@pytest.fixture(scope="module")
def partitionable(tmp_path_factory):
    cluster = own_cluster(tmp_path_factory.mktemp("partition"), partitionable=True).start()
    yield cluster
    cluster.remove()


def our_rules(cluster):
    return [
        (source, destination)
        for source in cluster.addresses
        for destination in cluster.addresses
        if source != destination and iptables("-C", *drop_rule(source, destination))
    ]


def test_the_others_see_a_cut_node_down_and_every_rule_goes_even_when_the_test_fails(partitionable):
    cluster = partitionable
    cut = cluster.nodes[0]
    with pytest.raises(AssertionError, match="the test failed here"):
        with cluster.cut_off(cut):
            assert len(our_rules(cluster)) == 4  # both ways, to each other node
            # The distribution's failure detection: net_ticktime (60 s by
            # default) after the cut, give or take a quarter.
            cluster.wait_cut_off(cut, timeout=120)
            raise AssertionError("the test failed here")
    assert our_rules(cluster) == []
    try:
        cluster.wait_healed(timeout=45)  # 3.x under pause_minority, as shipped: 5 to 15 s
    except TimeoutError:  # Debian 12's 3.10.8 may hang rejoining (see recover)
        cluster.recover(cut)
        cluster.wait_healed()


def test_a_rule_a_killed_run_left_behind_is_deleted_before_the_next_cut(partitionable):
    cluster = partitionable
    stale = (cluster.addresses[1], cluster.addresses[2])
    assert iptables("-I", *drop_rule(*stale))
    try:
        with cluster.cut_off(cluster.nodes[0]):
            assert stale not in our_rules(cluster)
            assert len(our_rules(cluster)) == 4
    finally:
        delete_drop_rule(*stale)
    assert our_rules(cluster) == []
    cluster.wait_healed()
