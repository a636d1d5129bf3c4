"""Code that runs inside the workflow pod: the papermill progress engine (``argo_progress``).

Kept free of server-side imports (pygeoapi, kubernetes, hera) so the job image stays small and
papermill, which loads every ``papermill.engine`` entry point eagerly, starts fast.
"""
