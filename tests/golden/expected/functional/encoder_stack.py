import keras
from keras import layers


def encoder(x, heads, dim, ff, rate=0.1):
    shortcut = x
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)(x, x)
    x = layers.Dropout(rate)(x)
    x = layers.Add()([shortcut, x])
    x = layers.LayerNormalization(epsilon=1e-06)(x)
    shortcut = x
    x = layers.Dense(ff, activation="relu")(x)
    x = layers.Dense(dim)(x)
    x = layers.Dropout(rate)(x)
    x = layers.Add()([shortcut, x])
    return layers.LayerNormalization(epsilon=1e-06)(x)



def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(200,), dtype="int32")
    x = layers.Embedding(20000, 32)(inputs)
    for _ in range(4):
        x = encoder(x, 2, 32, 64)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
