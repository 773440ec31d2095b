import keras
from keras import layers


def encoder(x, heads, dim, ff):
    shortcut = x
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)(x, x)
    x = layers.Dropout(0.1)(x)
    x = layers.Add()([x, shortcut])
    a = layers.LayerNormalization()(x)
    x = layers.Dense(ff, activation="relu")(a)
    x = layers.Dense(dim)(x)
    x = layers.Add()([x, a])
    return layers.LayerNormalization()(x)



def decoder(x, heads, dim, memory):
    shortcut = x
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)(
        x, x, use_causal_mask=True
    )
    x = layers.Add()([x, shortcut])
    a = layers.LayerNormalization()(x)
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)(a, memory)
    x = layers.Add()([x, a])
    return layers.LayerNormalization()(x)



def build_model():
    """Build and compile the model."""
    src = keras.Input(shape=(20,), dtype="int32", name="src")
    x = layers.Embedding(500, 16)(src)
    mem = x
    for _ in range(2):
        mem = encoder(mem, 2, 16, 32)
    tgt = keras.Input(shape=(20,), dtype="int32", name="tgt")
    x = layers.Embedding(500, 16)(tgt)
    for _ in range(2):
        x = decoder(x, heads=2, dim=16, memory=mem)
    outputs = layers.Dense(500, activation="softmax")(x)
    model = keras.Model(inputs=[src, tgt], outputs=outputs)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
