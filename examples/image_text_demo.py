"""`make demo-image-text`: an image-text model assembled offline from the packaged MobileNetV2
(image tower) and MiniLM-L6 (text tower), fine-tuned CLIP-style on 2,000 textile photos with
captions made from their folder names, then asked zero-shot questions and searched with words.

The same as typing:
    tunesmith train <textile folder> --task image-text --model mobilenet-v2+minilm-l6 \\
        --data.caption_template "a close-up photo of {label} fabric" --out runs/textile-clip
    tunesmith predict runs/textile-clip --image <a photo> --labels "global,local,nominal"
    tunesmith predict runs/textile-clip --query "a close-up photo of local fabric" --images <folder>
"""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith import packaged
from tunesmith.cli import main as tunesmith

OUT = "runs/textile-clip-demo"
TEMPLATE = "a close-up photo of {label} fabric"


def main() -> int:
    data = packaged.textile_images()
    started = time.perf_counter()
    args = ["train", str(data), "--task", "image-text", "--model", "mobilenet-v2+minilm-l6"]
    code = tunesmith([*args, "--data.caption_template", TEMPLATE, "--out", OUT, "--overwrite"])
    if code:
        return code
    minutes = (time.perf_counter() - started) / 60
    import tunesmith as ts

    test = ts.load(OUT).metrics["test"]
    before = test["before"]
    print(f"\nTextile photos, MobileNetV2 + MiniLM-L6 dual encoder, trained in {minutes:.1f} min:")
    was, now = before["zero_shot_accuracy"], test["zero_shot_accuracy"]
    print(f"  zero-shot accuracy   {was:.3f} -> {now:.3f}")
    for direction in ("image_to_text", "text_to_image"):
        was, now = before[direction], test[direction]
        print(f"  {direction.replace('_', ' '):19}  R@1 {was['R@1']:.3f} -> {now['R@1']:.3f}")
    print(f"  report: {Path(OUT, 'report.html').resolve()}")
    photo = sorted((data / "local").glob("*.jpg"))[-1]
    print(f"\n$ tunesmith predict {OUT} --image {photo.name} --labels global,local,nominal")
    tunesmith(["predict", OUT, "--image", str(photo), "--labels", "global,local,nominal"])
    query = TEMPLATE.format(label="local")
    print(f'\n$ tunesmith predict {OUT} --query "{query}" --images local/ --top-k 3')
    return tunesmith(
        ["predict", OUT, "--query", query, "--images", str(data / "local"), "--top-k", "3"]
    )


if __name__ == "__main__":
    raise SystemExit(main())
