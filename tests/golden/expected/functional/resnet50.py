import keras
from keras import layers


def cb(x, f, k, s=1):
    x = layers.Conv2D(f, k, strides=s, padding="same")(x)
    return layers.BatchNormalization(epsilon=1.001e-05)(x)



def body(x, f, o, s):
    x = cb(x, f, 1, s)
    x = layers.ReLU()(x)
    x = cb(x, f, 3)
    x = layers.ReLU()(x)
    return cb(x, o, 1)



def proj(x, f, o, s):
    shortcut = cb(x, o, 1, s)
    x = body(x, f, o, s)
    x = layers.Add()([shortcut, x])
    return layers.ReLU()(x)



def id_(x, f, o):
    shortcut = x
    x = body(x, f, o, 1)
    x = layers.Add()([shortcut, x])
    return layers.ReLU()(x)



def stage(x, f, o, s, n):
    x = proj(x, f, o, s)
    for _ in range(n):
        x = id_(x, f, o)
    return x



def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(224, 224, 3))
    x = layers.ZeroPadding2D(padding=3)(inputs)
    x = layers.Conv2D(64, 7, strides=2)(x)
    x = layers.BatchNormalization(epsilon=1.001e-05)(x)
    x = layers.ReLU()(x)
    x = layers.ZeroPadding2D(padding=1)(x)
    x = layers.MaxPooling2D(pool_size=3, strides=2)(x)
    x = stage(x, 64, 256, 1, 2)
    x = stage(x, 128, 512, 2, 3)
    x = stage(x, 256, 1024, 2, 5)
    x = stage(x, 512, 2048, 2, 2)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1000, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
