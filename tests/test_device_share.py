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


def test_the_default_lock_folder_is_the_users_own(tmp_path, monkeypatch):
    import os

    from gradconf import device_share

    monkeypatch.delenv(device_share.LOCK_DIR_ENV, raising=False)
    monkeypatch.setattr(device_share.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = device_share.lock_folder()
    assert folder == tmp_path / f"gradconf-locks-{os.getuid()}" and (folder.stat().st_mode & 0o777) == 0o700
    monkeypatch.setenv(device_share.LOCK_DIR_ENV, str(tmp_path / "mine"))
    assert device_share.lock_folder() == tmp_path / "mine"


def test_a_gpu_is_named_by_its_uuid_where_torch_gives_one(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(uuid=f"GPU-{index}-abc"))
    assert device_key(torch.device("cuda", 1)) == "cuda-GPU-1-abc"
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace())
    assert device_key(torch.device("cuda", 1)) == "cuda1"
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert device_key(torch.device("cuda")) == "cuda0"  # no index: the current device
