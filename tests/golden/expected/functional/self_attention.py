import keras
from keras import layers


def build_model():
    """Build and compile the model."""
    inputs = keras.Input(shape=(10, 32))
    x = layers.MultiHeadAttention(num_heads=4, key_dim=16)(
        inputs, inputs, use_causal_mask=True
    )
    x = layers.Add()([inputs, x])
    x = layers.LayerNormalization(epsilon=1e-06)(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
