"""Multi-label distillation: one sigmoid per label, so the soft targets are the teacher's
per-label probabilities softened by T (sigmoid(z / T)), matched with binary cross-entropy
(minus its entropy: a Bernoulli KL, 0 when the student equals the teacher), mixed with BCE on
the hard multi-hot labels. The teacher answers raw texts, so any student family works."""

from __future__ import annotations

from tunesmith.training.distillation import Distiller, teacher_answers


class SigmoidDistiller(Distiller):
    def targets(self, teacher, processor, examples, dataset, labels, cfg):
        import numpy as np

        answers = teacher_answers(teacher, examples)
        probs = np.array([[a["scores"][name] for name in labels] for a in answers], "float64")
        probs = np.clip(probs, 1e-6, 1 - 1e-6)
        logits = (np.log(probs) - np.log1p(-probs)).tolist()  # back to the teacher's logits
        return [[*hard, *row] for hard, row in zip(dataset["labels"], logits, strict=True)]

    def loss(self, temperature, alpha, class_weights):
        return sigmoid_distillation_loss(temperature, alpha)


def sigmoid_distillation_loss(temperature: float, alpha: float):
    import torch.nn.functional as F

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        width = logits.shape[-1]
        if labels.shape[-1] == width:  # validation: plain multi-hot labels
            return F.binary_cross_entropy_with_logits(logits, labels.float())
        hard, teacher = labels[:, :width].float(), labels[:, width:].float()
        target = (teacher / temperature).sigmoid()
        soft = F.binary_cross_entropy_with_logits(
            logits / temperature, target
        ) - F.binary_cross_entropy_with_logits(teacher / temperature, target)
        hard_loss = F.binary_cross_entropy_with_logits(logits, hard)
        return alpha * soft * temperature**2 + (1 - alpha) * hard_loss

    return loss
