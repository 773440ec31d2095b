import keras
from keras import layers


def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(16, 16, 8))
    branch_1 = layers.Conv2D(8, 1, activation="relu")(inputs)
    branch_2 = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=3, strides=1, padding="same")(inputs)
    x = layers.Conv2D(4, 1, activation="relu")(x)
    x = layers.Concatenate()([branch_1, branch_2, x])
    x = layers.Flatten()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
