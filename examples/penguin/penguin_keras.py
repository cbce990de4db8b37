"""Penguin classifier: TFX's penguin Keras module file, on Headwater.

A port of TFX's `penguin_utils_keras.py` + `penguin_utils_base.py`: the same
`preprocessing_fn` (Transform), `tuner_fn` (Tuner) and `run_fn` (Trainer), the same names.
What changed from the TFX file:

* imports: `tfx.components.FnArgs` / `TunerFnResult`, `tfx_bsl...TensorFlowDatasetOptions`
  and `DataAccessor` come from `headwater.orchestration`; `tensorflow_transform as tft`
  is `headwater.transform as tft`; `tf.keras` / `kerastuner` are `keras` / `keras_tuner`.
* saving: Keras 3 has no `model.save(dir, save_format="tf")`; the signatures are saved with
  `tf.saved_model.save(model, dir, signatures=...)`.
* `tf_transform_output.transformed_metadata.schema` (TFX's line) works too; this file reads
  the same schema as `.transformed_schema`.
* `jit_compile=False`: Keras 3 would XLA-compile this tiny model, which costs more than it saves.
* the optimizer is built right after `compile`, so that the train step is traced once.
* warm start: with a `base_model` input, training starts from that model's weights.
* the module also trains without a Transform in the pipeline (raw features, normalized by a
  Keras layer), so the pipeline can run Trainer with or without Transform.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import keras_tuner
import tensorflow as tf

import headwater.transform as tft
from headwater.orchestration import (
    DataAccessor,
    FnArgs,
    TensorFlowDatasetOptions,
    TunerFnResult,
    distribution_strategy,
    make_serving_signatures,
    warm_start,
)
from headwater.orchestration.training import load_schema

logger = logging.getLogger(__name__)

FEATURE_KEYS = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
_LABEL_KEY = "species"

TRAIN_BATCH_SIZE = 20
EVAL_BATCH_SIZE = 10


def transformed_name(key: str) -> str:
    return key + "_xf"


# Transform calls this function.
def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    """z-scores the four measurements; the label passes through."""
    outputs = {}
    for key in FEATURE_KEYS:
        outputs[transformed_name(key)] = tft.scale_to_z_score(tf.cast(inputs[key], tf.float32))
    outputs[transformed_name(_LABEL_KEY)] = inputs[_LABEL_KEY]
    return outputs


def input_fn(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput | None,
    batch_size: int,
    schema: Any = None,
) -> tf.data.Dataset:
    """(features, label) batches, repeated: transformed features when there is a transform."""
    if tf_transform_output is not None:
        label_key = transformed_name(_LABEL_KEY)
        schema = tf_transform_output.transformed_schema
    else:
        label_key = _LABEL_KEY
    return data_accessor.tf_dataset_factory(
        file_pattern,
        TensorFlowDatasetOptions(batch_size=batch_size, label_key=label_key),
        schema,
    ).repeat()


def _get_hyperparameters() -> keras_tuner.HyperParameters:
    """Returns hyperparameters for building Keras model."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("learning_rate", [1e-2, 1e-3], default=1e-2)
    hp.Int("num_layers", 1, 3, default=2)
    return hp


def _make_keras_model(
    hparams: keras_tuner.HyperParameters, normalizer: keras.layers.Layer | None = None
) -> keras.Model:
    """A DNN over the four measurements (transformed ones, or raw ones behind `normalizer`)."""
    names = FEATURE_KEYS if normalizer is not None else [transformed_name(f) for f in FEATURE_KEYS]
    inputs = [keras.layers.Input(shape=(1,), name=name) for name in names]
    d = keras.layers.concatenate(inputs)
    if normalizer is not None:
        d = normalizer(d)
    for _ in range(int(hparams.get("num_layers"))):
        d = keras.layers.Dense(8, activation="relu")(d)
    outputs = keras.layers.Dense(3, activation="softmax")(d)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(hparams.get("learning_rate")),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        # Keras 3 XLA-compiles by default ("auto"); for a model this small the compile takes
        # longer than the training (measured: 100 steps in 4 s without, 8-13 s with).
        jit_compile=False,
    )
    # The optimizer's slots now, not inside the first traced train step: Keras 3 without a
    # tf.distribute strategy builds them lazily there, and a step that creates variables is
    # traced twice (TFX's module trains under MirroredStrategy, whose symbolic build does this).
    model.optimizer.build(model.trainable_variables)
    return model


def _raw_normalizer(dataset: tf.data.Dataset) -> keras.layers.Layer:
    """Without a transform: a Normalization layer adapted on a few raw training batches."""
    normalizer = keras.layers.Normalization()
    normalizer.adapt(
        dataset.take(16).map(
            lambda x, _: tf.concat([tf.cast(x[f], tf.float32) for f in FEATURE_KEYS], axis=1)
        )
    )
    return normalizer


def _datasets(fn_args: FnArgs, transform: tft.TFTransformOutput | None) -> tuple[Any, Any, Any]:
    schema = load_schema(fn_args.schema_path) if fn_args.schema_path else None
    assert fn_args.data_accessor is not None
    train = input_fn(
        fn_args.train_files, fn_args.data_accessor, transform, TRAIN_BATCH_SIZE, schema
    )
    evaluation = input_fn(
        fn_args.eval_files, fn_args.data_accessor, transform, EVAL_BATCH_SIZE, schema
    )
    return train, evaluation, schema


def _transform_output(fn_args: FnArgs) -> tft.TFTransformOutput | None:
    return tft.TFTransformOutput(fn_args.transform_output) if fn_args.transform_output else None


# Tuner calls this function.
def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """A RandomSearch over learning rate and depth (`custom_config["max_trials"]`, default 6)."""
    transform = _transform_output(fn_args)
    train_dataset, eval_dataset, _ = _datasets(fn_args, transform)
    normalizer = _raw_normalizer(train_dataset) if transform is None else None
    tuner = keras_tuner.RandomSearch(
        lambda hp: _make_keras_model(hp, normalizer),
        max_trials=int(fn_args.custom_config.get("max_trials", 6)),
        hyperparameters=_get_hyperparameters(),
        allow_new_entries=False,
        objective=keras_tuner.Objective("val_sparse_categorical_accuracy", "max"),
        directory=fn_args.working_dir,
        project_name="penguin_tuning",
    )
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": train_dataset,
            "validation_data": eval_dataset,
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
            "verbose": 0,
        },
    )


# Trainer calls this function.
def run_fn(fn_args: FnArgs) -> None:
    """Train the model and save it with serving signatures to `fn_args.serving_model_dir`."""
    tf_transform_output = _transform_output(fn_args)
    train_dataset, eval_dataset, schema = _datasets(fn_args, tf_transform_output)

    if fn_args.hyperparameters:
        hparams = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
    else:
        # The hyperparameters are fixed when no Tuner is in the pipeline.
        hparams = _get_hyperparameters()
    logger.info("HyperParameters for training: %s", hparams.get_config())

    with distribution_strategy().scope():
        normalizer = _raw_normalizer(train_dataset) if tf_transform_output is None else None
        model = _make_keras_model(hparams, normalizer)
        if fn_args.base_model:  # a previous Model given to the Trainer as base_model
            warm_start(model, fn_args.base_model)

    tensorboard_callback = keras.callbacks.TensorBoard(
        log_dir=fn_args.model_run_dir, update_freq="batch"
    )
    model.fit(
        train_dataset,
        steps_per_epoch=fn_args.train_steps,
        validation_data=eval_dataset,
        validation_steps=fn_args.eval_steps,
        callbacks=[tensorboard_callback],
        verbose=0,
    )

    signatures = make_serving_signatures(
        model, tf_transform_output, schema=schema, label_key=_LABEL_KEY
    )
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
