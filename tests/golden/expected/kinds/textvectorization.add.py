from keras.layers import Dense, Embedding, Flatten, TextVectorization


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(1,), dtype="string"))
    model.add(
        TextVectorization(vocabulary=("the", "cat", "sat"), output_sequence_length=6)
    )
    model.add(Embedding(10, 4))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
