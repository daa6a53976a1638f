"""`make demo-image`: fine-tune the real MobileNetV2 (ImageNet weights, packaged) on 2,000
textile photos in three classes (nominal fabric, local defects, global defects), offline.

The same as typing:
    tunesmith train <textile folder> --model mobilenet-v2 --out runs/textile-demo
    tunesmith predict runs/textile-demo --image <a photo>
"""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith import packaged
from tunesmith.cli import main as tunesmith


def main() -> int:
    out = "runs/textile-demo"
    data = packaged.textile_images()
    started = time.perf_counter()
    code = tunesmith(["train", str(data), "--model", "mobilenet-v2", "--out", out, "--overwrite"])
    if code:
        return code
    minutes = (time.perf_counter() - started) / 60
    import tunesmith as ts

    test = ts.load(out).metrics["test"]
    print(f"\nTextile photos, 3 classes, MobileNetV2 fine-tuned in {minutes:.1f} min here:")
    print(f"  test accuracy {test['accuracy']:.3f}   macro-F1 {test['f1_macro']:.3f}")
    print(f"  report (with the worst mistakes as pictures): {Path(out, 'report.html').resolve()}")
    photo = sorted((data / "local").glob("*.jpg"))[-1]
    print(f"\n$ tunesmith predict {out} --image {photo.name}   (a photo with a local defect)")
    return tunesmith(["predict", out, "--image", str(photo)])


if __name__ == "__main__":
    raise SystemExit(main())
