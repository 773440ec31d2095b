import keras
from keras import layers


def build_model():
    """Build and compile the model."""
    query = keras.Input(shape=(10, 16), name="query")
    memory = keras.Input(shape=(12, 16), name="memory")
    mask = keras.Input(shape=(10, 12), dtype="bool", name="mask")
    x = layers.MultiHeadAttention(num_heads=2, key_dim=8)(
        query, memory, attention_mask=mask
    )
    x = layers.Attention()([x, memory])
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs=[query, memory, mask], outputs=outputs)
    model.compile(
        optimizer="adam",
        loss="mean_squared_error",
    )
    return model
