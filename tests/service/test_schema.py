"""schemathesis generates requests from /openapi.json and checks every answer against it."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from service import create_app
from service.endpoints import openapi_spec
from service.settings import Settings

OPERATIONS = [(path, method) for path, ops in openapi_spec("1")["paths"].items() for method in ops]


@pytest.mark.parametrize("path, method", OPERATIONS)
def test_operation_conforms_to_the_spec(home, path, method):
    app = create_app(settings=Settings(home=home, reload_seconds=0))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method.upper()]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def conforms(case):
        case.call_and_validate()

    conforms()
