from pathlib import Path

from setuptools import find_packages, setup

about: dict = {}
exec(Path("argo_papermill/_version.py").read_text(), about)

setup(
    name="argo-papermill",
    version=about["__version__"],
    description="Run parameterised Jupyter notebooks as OGC API - Processes jobs on Argo Workflows (pygeoapi plugin)",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.12",
    packages=find_packages(include=["argo_papermill", "argo_papermill.*"]),
    include_package_data=True,
    package_data={"argo_papermill": ["py.typed"]},
    install_requires=[
        "pygeoapi==0.24.*",
        "hera>=7.1,<8",
        "kubernetes>=31",
        "papermill>=2.6",
        "nbformat>=5.9",
        "nbclient>=0.10",
        "ipykernel>=6.29",
        "scrapbook>=0.5",
        "six",  # scrapbook imports six without declaring it
        "nbconvert>=7",
        "fsspec>=2024.6",
        "s3fs>=2024.6",
        "pyyaml>=6",
        "pydantic>=2.7,<3",
        "click>=8.1",
        "tqdm>=4.66",
        "requests>=2.31",
        "gunicorn>=22",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "jsonschema>=4.21",
            "moto[server]>=5",
            "matplotlib>=3.8",
            "schemathesis>=4.30",
        ],
    },
    entry_points={
        "console_scripts": ["argo-papermill=argo_papermill.cli:main"],
        "papermill.engine": ["argo_progress=argo_papermill.job.engine:ArgoProgressEngine"],
    },
    classifiers=[
        "Programming Language :: Python :: 3.12",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: GIS",
    ],
)
