import keras
from keras import layers


def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(8, 8, 16))
    x = layers.Conv2D(16, 3, padding="same")(inputs)
    shortcut = x
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, padding="same")(x)
    x = layers.Add()([shortcut, x])
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
