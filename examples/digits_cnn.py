"""Train a CNN written in ncdl on scikit-learn's 8x8 digits, export it to ONNX, check it in onnxruntime.

The network is ``examples/digits_cnn.ncd`` (three 3x3 convolutions, two max
pools, two linear layers; 62,250 parameters). The data is scikit-learn's
bundled digits (1,797 grey 8x8 images, no download), split 75/25 with a fixed
seed. After training, the model is exported with its trained weights to ONNX,
run with onnxruntime through ``ncdl.runtime.Session``, and the test accuracy
is computed again from onnxruntime's outputs: both numbers are printed and
must agree.

Run (needs the ``examples`` extra: ``pip install -e '.[examples]'``)::

    .venv/bin/python examples/digits_cnn.py              # 30 epochs, about half a minute
    .venv/bin/python examples/digits_cnn.py --epochs 5 --out /tmp/digits
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import ncdl
from ncdl.demo import settle_threads
from ncdl.demo.charlm import Progress
from ncdl.files import save_onnx
from ncdl.runtime import Session

HERE = Path(__file__).resolve().parent
NCD = HERE / "digits_cnn.ncd"


def load_digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as float32 ``[n, 1, 8, 8]`` in [0, 1] and int64 labels: train and test."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    digits = sk_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    return train_test_split(images, labels, test_size=0.25, random_state=seed, stratify=labels)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of rows whose largest logit is the label."""
    return float((logits.argmax(axis=1) == labels).mean())


def train(module: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> list[float]:
    """Adam on shuffled batches of 64 with a cosine learning rate; return the mean loss of each epoch."""
    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batch = 64
    per_epoch = (len(xt) + batch - 1) // batch
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * per_epoch)
    bar = Progress(epochs * len(xt), unit="img")
    history = []
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(module(xt[idx]), yt[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        history.append(total / len(xt))
        bar.update(len(xt), loss=history[-1])
    bar.close()
    module.eval()
    return history


def run(epochs: int = 30, out: str | Path = "out/digits", seed: int = 0) -> dict[str, float]:
    """The whole example; returns the accuracies, final loss and times."""
    start = time.perf_counter()
    note = settle_threads()
    if note:
        print(note)
    program = ncdl.load(NCD)
    x_train, x_test, y_train, y_test = load_digits(seed)
    torch.manual_seed(seed)
    module = program.to_torch()
    print(
        f"{program.models[-1]}: {sum(p.numel() for p in module.parameters()):,} parameters; "
        f"{len(x_train)} training and {len(x_test)} test images"
    )
    history = train(module, x_train, y_train, epochs, seed)
    train_seconds = time.perf_counter() - start
    with torch.no_grad():
        torch_logits = module(torch.from_numpy(x_test)).numpy()
    torch_acc = accuracy(torch_logits, y_test)

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits_cnn.onnx"
    save_onnx(program.to_onnx(state_dict=module.state_dict()), path)
    session = Session(path)
    ort_logits = session.run({"image": x_test})[session.output_names[0]]
    ort_acc = accuracy(ort_logits, y_test)
    result = {
        "epochs": epochs,
        "final_loss": history[-1],
        "torch_accuracy": torch_acc,
        "onnx_accuracy": ort_acc,
        "max_logit_difference": float(np.abs(torch_logits - ort_logits).max()),
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - start,
    }
    print(f"wrote {path}")
    print(
        f"test accuracy: torch {torch_acc:.4f}, onnxruntime {ort_acc:.4f} "
        f"(max logit difference {result['max_logit_difference']:.2e})"
    )
    print(f"final training loss {history[-1]:.4f}; {result['total_seconds']:.1f} s in all")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--epochs``, ``--out``, ``--seed``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--out", default="out/digits", help="folder for digits_cnn.onnx (default out/digits)")
    parser.add_argument("--seed", type=int, default=0, help="data split and initialisation seed")
    args = parser.parse_args(argv)
    result = run(args.epochs, args.out, args.seed)
    return 0 if result["torch_accuracy"] == result["onnx_accuracy"] else 1


if __name__ == "__main__":
    sys.exit(main())
