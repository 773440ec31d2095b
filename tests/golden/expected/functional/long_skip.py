import keras
from keras import layers


def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(32, 32, 3))
    s1 = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(s1)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.UpSampling2D(size=2)(x)
    x = layers.Concatenate()([x, s1])
    outputs = layers.Conv2D(1, 1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
