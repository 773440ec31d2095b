import keras
from keras import layers


def cbr(x, f):
    x = layers.Conv2D(f, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)



def dbl(x, f):
    for _ in range(2):
        x = cbr(x, f)
    return x



def up(x, f):
    return layers.Conv2DTranspose(f, 2, strides=2)(x)



def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(128, 128, 1))
    s1 = dbl(inputs, 64)
    x = layers.MaxPooling2D(pool_size=2)(s1)
    s2 = dbl(x, 128)
    x = layers.MaxPooling2D(pool_size=2)(s2)
    s3 = dbl(x, 256)
    x = layers.MaxPooling2D(pool_size=2)(s3)
    s4 = dbl(x, 512)
    x = layers.MaxPooling2D(pool_size=2)(s4)
    x = dbl(x, 1024)
    x = up(x, 512)
    x = layers.Concatenate()([x, s4])
    x = dbl(x, 512)
    x = up(x, 256)
    x = layers.Concatenate()([x, s3])
    x = dbl(x, 256)
    x = up(x, 128)
    x = layers.Concatenate()([x, s2])
    x = dbl(x, 128)
    x = up(x, 64)
    x = layers.Concatenate()([x, s1])
    x = dbl(x, 64)
    outputs = layers.Conv2D(1, 1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
