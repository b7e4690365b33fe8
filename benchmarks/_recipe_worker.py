"""A shipped recipe's training loop, batch by batch on command (run by bench_layers.py).

Started as ``python benchmarks/_recipe_worker.py RECIPE DATA`` with the poselift to measure on
``PYTHONPATH`` (the working tree, or an older commit's ``src``), so that two versions of the
library run side by side in two processes and the parent interleaves them. The loop is
``examples/train.py``'s (its defaults and the recipe's flags): a
:class:`~poselift.training.AugmentedSamples` batch with the run's seeded generator, the
dropout seed, the BatchNorm momentum, :func:`~poselift.training.train_step` with Adam
(amsgrad) and the L1 loss. Commands on stdin: ``run K`` (K batches; prints one JSON line with
the process CPU seconds spent in data and in the step, and the wall time), ``quit``.
"""

from __future__ import annotations

import json
import sys
import time

import torch

import poselift
from poselift import training
from poselift.data import base_protocol, protocol_motion
from poselift.data.wild import training_augmentation
from poselift.models.inputs import InputContract

RECIPES = {
    # examples/train.py flags of the shipped weights (src/poselift/weights/cards.json)
    "sr.coco": dict(model="sr", config=dict(skeleton="coco", in_features=3, input_norm="bbox"),
                    frame_step=4),
    "sr_tcn.coco-causal": dict(model="sr_tcn",
                               config=dict(skeleton="coco", in_features=3, input_norm="bbox",
                                           filter_widths=(3, 3, 3), causal=True),
                               frame_step=8),
}
SEED, BATCH = 4321, 1024


def main() -> None:
    recipe, data = RECIPES[sys.argv[1]], sys.argv[2]
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    torch.manual_seed(training.seed_of(SEED, "init"))
    model = poselift.create_model(recipe["model"], **recipe["config"])
    contract = InputContract.of(model)
    aug = training_augmentation("wild-mix", skeleton=contract.skeleton,
                                normalize=contract.input_norm, overrides={})
    motion = protocol_motion(base_protocol("p1-style"), data, "train")
    dataset = training.make_dataset(model, motion, aug, frame_step=recipe["frame_step"],
                                    seed=SEED)
    source = training.AugmentedSamples(dataset, "cpu")
    net = model.strided_twin() if contract.temporal else model
    # examples/train.py's optimizer: fused Adam since issue 26 ("fused" argument), the
    # per-parameter loop before
    fused = len(sys.argv) > 4 and sys.argv[4] == "fused"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True, fused=fused)
    perm = torch.randperm(source.epoch_size,
                          generator=torch.Generator().manual_seed(training.seed_of(SEED, 0)))
    net.train()
    b = 0
    print(json.dumps({"ready": True, "poselift": poselift.__file__}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        data_cpu = step_cpu = 0.0
        wall = time.perf_counter()
        for _ in range(int(words[1])):
            idx = perm[(b * BATCH) % source.epoch_size:][:BATCH]
            t0 = time.process_time()
            g = torch.Generator().manual_seed(training.seed_of(SEED, 0, b, 0))
            x, y = source.batch(idx, g)
            t1 = time.process_time()
            torch.manual_seed(training.seed_of(SEED, 0, b, 0, "dropout"))
            training.set_bn_momentum(model, training.bn_momentum(0.1, 0.001, b / 3000))
            training.train_step(net, optimizer, x, y, "l1")
            step_cpu += time.process_time() - t1
            data_cpu += t1 - t0
            b += 1
        print(json.dumps({"data_cpu": data_cpu, "step_cpu": step_cpu,
                          "wall": time.perf_counter() - wall, "samples": int(words[1]) * BATCH}),
              flush=True)


if __name__ == "__main__":
    main()
