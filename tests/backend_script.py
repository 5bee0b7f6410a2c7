"""Run by test_backends.py under ``KERAS_BACKEND=jax`` or ``torch``: what the library promises on that backend.

``python backend_script.py CLIP.npy VIDEO OUT.npz``: the Kinetics-400 model's logits on the clip, ``inference``'s
logits of the video, the losses of a short ``model.fit`` of the classifier on ``tf.data`` input, and the errors of
what is TensorFlow-only.
"""

import sys

import keras
import numpy as np


def main(clip_path, video, out):
    from i3d_keras import I3D, inference, runtimes, serving

    model = I3D(weights="kinetics400", input_shape=(None, 224, 224, 3))
    clip = np.load(clip_path)
    logits = np.asarray(inference.forward(model)(clip))
    video_logits = inference.predict_video(model, video)

    errors = []
    from i3d_keras.training import strategy

    tensorflow_only = (lambda: serving.export(model, out + ".module"), lambda: runtimes.export(model, out + ".onnx", "onnx"),
                       lambda: strategy.select_strategy("auto"))
    for call in tensorflow_only:
        try:
            call()
            errors.append("")
        except ValueError as error:
            errors.append(str(error))

    import tensorflow as tf  # tf.data input, as users of every backend feed Keras

    for layer in model.layers:
        layer.trainable = layer.name == "Logits_Conv3d_0c_1x1_conv"
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    clips = rng.uniform(-1, 1, (4, 9, 224, 224, 3)).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((clips, np.array([0, 1, 2, 3]))).batch(2)
    history = model.fit(data, epochs=4, verbose=0)
    np.savez(out, backend=keras.backend.backend(), logits=logits, video_logits=video_logits,
             losses=np.array(history.history["loss"]), errors=np.array(errors))


if __name__ == "__main__":
    main(*sys.argv[1:])
