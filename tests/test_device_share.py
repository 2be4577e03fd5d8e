"""The host-wide lock that lets runs sharing a GPU hold their probe-Gram memory peak one at a time."""
from __future__ import annotations

import threading
import time

import torch

from gradconf.device_share import device_key, exclusive


def test_nothing_is_shared_off_cuda():
    assert device_key(torch.device("cpu")) is None
    with exclusive(None):  # no lock, no file
        pass


def test_a_second_holder_waits_until_the_first_lets_go(tmp_path):
    entered = threading.Event()

    def second():
        with exclusive("cuda-GPU-1234/x", tmp_path):  # any characters: the file name is made safe
            entered.set()

    with exclusive("cuda-GPU-1234/x", tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert not entered.is_set()  # flock: separate opens of one file exclude each other
    thread.join(5)
    assert entered.is_set()
    assert [p.name for p in tmp_path.iterdir()] == ["gradconf-peak-cuda-GPU-1234_x.lock"]


def test_another_device_does_not_wait(tmp_path):
    entered = threading.Event()

    def other():
        with exclusive("cuda-B", tmp_path):
            entered.set()

    with exclusive("cuda-A", tmp_path):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
        assert entered.is_set()
