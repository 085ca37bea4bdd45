"""The data-parallel context of a training run started by ``torchrun``: which process this is,
its process group, the DDP wrapper, this process's part of a batch and the sums across processes.
Without torchrun's environment a run is one process and nothing here touches torch.distributed.

gloo (CPU) is exercised here; NCCL (one CUDA device per process, ``--device cuda``) is written
for machines with GPUs and has not run on this one, which has none."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .errors import LoihiSnnError

# lava-dl neurons' run-time state: non-persistent buffers shaped by the last batch (N, ...)
NEURON_STATE = "_state"
T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process in a run of ``world`` processes: ``rank`` (0 writes the run folder) and
    ``local_rank`` of the ``local_world`` processes on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @classmethod
    def from_env(cls) -> Ranks:
        """From torchrun's RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE; one process when
        they are not set."""
        env = os.environ
        return cls(
            int(env.get("RANK", 0)),
            int(env.get("WORLD_SIZE", 1)),
            int(env.get("LOCAL_RANK", 0)),
            int(env.get("LOCAL_WORLD_SIZE", 1)),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, name: str) -> torch.device:
        """The device this process trains on: ``cpu``, ``cuda`` (under torchrun the machine's
        GPU number ``local_rank``), ``cuda:N``, or ``auto`` (CUDA where torch finds it). A CUDA
        device that is not there is refused in one line."""
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError:
            device = None
        if device is None or device.type not in ("cpu", "cuda"):
            raise LoihiSnnError(f"device {name!r}: give cpu, cuda, cuda:N or auto")
        if device.type == "cpu":
            return device
        if not torch.cuda.is_available():
            raise LoihiSnnError(
                f"device {name!r}: torch finds no CUDA device on this machine; train with "
                f"--device cpu"
            )
        index = self.local_rank if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise LoihiSnnError(
                f"device cuda:{index}: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s); give one of cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
        torch.cuda.set_device(index)
        return torch.device("cuda", index)

    @contextmanager
    def group(self, device: torch.device) -> Iterator[None]:
        """The process group for the ``with`` block, when ``world`` > 1: gloo for a model on the
        CPU, NCCL on CUDA; the machine's cores (CPU affinity) split evenly between its processes
        as torch threads. On leaving, the group is destroyed (after an error too), and a
        collective that failed because another process stopped (gloo saw its sockets close) or
        stalled (gloo's 30-minute timeout) becomes a :class:`LoihiSnnError` naming this rank,
        not a traceback."""
        if self.world == 1:
            yield
            return
        cores = len(os.sched_getaffinity(0))
        torch.set_num_threads(max(1, cores // self.local_world))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        try:
            yield
            # A last collective whose work this frame holds while the group is destroyed: torch
            # 2.3's gloo destructor joins its worker threads holding the GIL, and a worker that
            # drops a collective's last reference to a tensor made in Python needs the GIL. The
            # run's collectives before this one ended long before it (it waits for every
            # process). Measured here on the end of a run (broadcasts, then the destructor):
            # hung in 5 of 12 tries without it, in none of 20 with it.
            done = _on_group_device(torch.zeros(1))
            work = dist.all_reduce(done, async_op=True)
            work.wait()
        except RuntimeError as err:
            if "gloo/transport" not in str(err):
                raise
            raise LoihiSnnError(
                f"process {self.rank} of {self.world}: another process of the run stopped or "
                f"stalled ({str(err).split('] ')[-1]}); its own message says why"
            ) from None
        finally:
            dist.destroy_process_group()

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` itself in a one-process run, else ``model`` in DDP, which broadcasts rank 0's
        parameters and buffers now and averages the gradients in every backward pass. Call it
        once the model's lazily shaped lava-dl neuron parameters exist (``check_ready``). The
        neurons' batch-shaped state buffers are left out of DDP's per-step buffer broadcast
        (ranks' parts of a batch can differ in size); parameters that a recipe never uses (the
        predictor of a fixed-K SPARTA) are found in the first step (``static_graph``)."""
        if self.world == 1:
            return model
        state = [name for name, _ in model.named_buffers() if name.endswith(NEURON_STATE)]
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, state)
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, static_graph=True)

    def check_batches(self, samples: int, batch_size: int) -> None:
        """Refuse an epoch of ``samples`` in batches of ``batch_size`` with a batch smaller than
        the number of processes (a process would get no sample of it)."""
        smallest = samples % batch_size or batch_size
        if smallest < self.world:
            raise LoihiSnnError(
                f"{self.world} processes cannot split a batch of {smallest} (an epoch of "
                f"{samples} samples in batches of {batch_size}): change train.batch_size or "
                f"train.samples_per_epoch"
            )

    def shard(self, batch: np.ndarray) -> np.ndarray:
        """This process's part of a global ``batch`` (sample indices): every ``world``-th from
        ``rank`` on, so the parts differ in size by at most one."""
        return batch[self.rank :: self.world]

    def all_sum(self, values: list[float]) -> list[float]:
        """``values`` summed element-wise over the processes (float64), the same on every
        process."""
        if self.world == 1:
            return values
        total = _on_group_device(torch.tensor(values, dtype=torch.float64))
        dist.all_reduce(total)
        return total.tolist()

    def from_main(self, value: T) -> T:
        """Rank 0's ``value`` (any picklable object) on every process."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _on_group_device(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` where the process group's collectives take it: NCCL reduces CUDA tensors only
    (on this process's GPU, :meth:`Ranks.device`), gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return tensor.to(torch.device("cuda", torch.cuda.current_device()))
    return tensor
