"""Adaptive augmentation strength (`--augment ada`; ADA, Karras et al. 2020).

Each augmentation is applied to an image with probability p. p starts at 0, and every
ADA_INTERVAL steps it moves by sign(r_t - target) · batch · ADA_INTERVAL / speed, where
r_t = E[sign(D's logit on the real images)] over those steps: r_t near 1 says that D is sure of
every real image, i.e. that it memorises them, and p rises; r_t below the target lowers it.
p and the running sum of signs are variables of the state, so a checkpoint holds them and a
resumed run continues exactly. Everything runs inside the compiled step, and under
tf.distribute the replicas' sums are all-reduced, so every replica holds the same p.
"""

from __future__ import annotations

from typing import Any

ADA_INTERVAL = 4  # steps between adjustments of p (the paper's)


def sign_of_logits(d_out: Any, on_probabilities: bool) -> Any:
    """sign(D's logit) per image: of `d_out` itself, or for a D that ends in a sigmoid of its
    probability - 0.5 (the same sign)."""
    import tensorflow as tf

    out = tf.cast(tf.reshape(d_out, [-1]), tf.float32)
    return tf.sign(out - 0.5 if on_probabilities else out)


class AdaptiveStrength:
    """p, the probability of each augmentation, and the signs gathered since it last moved.

    `target` is r_t's target, `speed` the images over which p may go from 0 to 1, `batch_size`
    the global batch.
    """

    def __init__(self, target: float, speed: float, batch_size: int, on_probabilities: bool):
        import tensorflow as tf

        self.target = float(target)
        self.step_size = batch_size * ADA_INTERVAL / float(speed)
        self.on_probabilities = on_probabilities
        # Replicas compute identical values (their sums are all-reduced): the first one's write
        # stands for all.
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.p = tf.Variable(0.0, trainable=False, name="ada_p", aggregation=first)
        # [sum of the signs, images counted] since p last moved
        self.signs = tf.Variable([0.0, 0.0], trainable=False, name="ada_signs", aggregation=first)

    def checkpoint_objects(self) -> dict[str, Any]:
        return {"ada_p": self.p, "ada_signs": self.signs}

    def observe(self, d_real: Any, distributed: bool = False) -> None:
        """Add D's outputs on this step's real images (this device's rows; `distributed`: sum
        them over the replicas)."""
        import tensorflow as tf

        signs = sign_of_logits(d_real, self.on_probabilities)
        local = tf.stack([tf.reduce_sum(signs), tf.cast(tf.size(signs), tf.float32)])
        if distributed:
            local = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, local)
        self.signs.assign_add(local)

    def adjust(self, steps_done: Any) -> None:
        """After step `steps_done` (counted from 1): every ADA_INTERVAL steps, move p towards
        the target and start a new sum. Branch-free, for XLA and replicas alike."""
        import tensorflow as tf

        due = tf.equal(tf.math.floormod(tf.cast(steps_done, tf.int64), ADA_INTERVAL), 0)
        signs = tf.convert_to_tensor(self.signs)
        r_t = signs[0] / tf.maximum(signs[1], 1.0)
        p = tf.convert_to_tensor(self.p)
        moved = tf.clip_by_value(p + tf.sign(r_t - self.target) * self.step_size, 0.0, 1.0)
        self.p.assign(tf.where(due, moved, p))
        self.signs.assign(tf.where(due, tf.zeros_like(signs), signs))
