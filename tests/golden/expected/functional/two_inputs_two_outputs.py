import keras
from keras import layers


def build_model():
    """Build and compile the model."""
    title = keras.Input(shape=(100,), dtype="int32", name="title")
    x = layers.Embedding(10000, 64)(title)
    t = layers.LSTM(32)(x)
    tags = keras.Input(shape=(12,), name="tags")
    x = layers.Dense(16, activation="relu")(tags)
    x = layers.Concatenate()([x, t])
    x = layers.Dense(64, activation="relu")(x)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department = layers.Dense(4, activation="softmax", name="department")(x)
    model = keras.Model(inputs=[title, tags], outputs=[priority, department])
    model.compile(
        optimizer="adam",
        loss={
            "priority": "binary_crossentropy",
            "department": "categorical_crossentropy",
        },
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={
            "department": ["accuracy", keras.metrics.TopKCategoricalAccuracy(k=2)]
        },
    )
    return model
