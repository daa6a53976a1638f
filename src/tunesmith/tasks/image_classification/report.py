"""Image classification results for people: a gallery of the worst mistakes, plain loading."""

from __future__ import annotations

from tunesmith.tasks.report import Report


class ImageReport(Report):
    def plain_usage(self, run_dir):
        from tunesmith.models.vision import Preprocessing

        prep = Preprocessing.load(run_dir)
        if not prep.architecture:
            return super().plain_usage(run_dir)
        return f"""With torchvision and safetensors alone (preprocessing in image_model.json:
resize {prep.resize}, centre crop {prep.size}, mean {list(prep.mean)}, std {list(prep.std)}):
```python
import json, torchvision
from safetensors.torch import load_file
info = json.load(open("image_model.json"))
net = torchvision.models.get_model(info["architecture"], num_classes=len(info["labels"]))
state = load_file("model.safetensors")
net.load_state_dict({{k.removeprefix("net."): v for k, v in state.items()}})
```"""

    def mistake_gallery(self, mistakes, out_dir):
        if not mistakes:
            return {}
        from tunesmith.evaluation.plots import image_gallery

        return {"Most confident mistakes (test)": image_gallery(mistakes, out_dir)}
