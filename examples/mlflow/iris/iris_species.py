"""The example MLflow pyfunc model's code (MLflow "models from code": saved into the model
directory and run when the model loads). It wraps the example scikit-learn classifier
(examples/iris/iris.joblib, saved into the model as an artifact) and answers species names."""

from __future__ import annotations

import joblib
import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel
from mlflow.pyfunc.model import PythonModelContext

SPECIES = np.array(["setosa", "versicolor", "virginica"])


class IrisSpecies(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.classifier = joblib.load(context.artifacts["classifier"])

    # No type hints here: MLflow would read them as the model's input schema, which the
    # signature saved with the model gives instead.
    def predict(self, context, model_input, params=None):
        labels = self.classifier.predict(np.asarray(model_input, dtype=np.float64))
        names: list[str] = SPECIES[labels].tolist()
        return names


set_model(IrisSpecies())
