from keras.layers import Dense, Embedding, Flatten, TextVectorization


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(1,), dtype="string"),
            TextVectorization(
                vocabulary=("the", "cat", "sat"), output_sequence_length=6
            ),
            Embedding(10, 4),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
