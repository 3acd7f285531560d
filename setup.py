from setuptools import setup, find_packages

setup(
    name="fourier6d",
    version="0.1.0",
    description="6DCNN: SE(3)-equivariant operators in the spherical Fourier space "
                "and protein model quality assessment",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["fourier6d", "fourier6d.*", "estimators", "estimators.*"]),
    package_data={"estimators.data": ["*.npz", "*.md"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "autograd>=1.6",
        "numba>=0.58",
        "scikit-learn>=1.3",
        "joblib>=1.2",
        "gemmi>=0.7",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "gpu": ["cupy-cuda12x>=13"],
        "decoys": ["openmm>=8.0", "pdbfixer>=1.9"],
        "plots": ["matplotlib>=3.7"],
        "prody": ["prody>=2.4"],
        "docs": ["sphinx>=7.2"],
        "maps": ["mrcfile>=1.4"],
        "dask": ["dask>=2023.1", "distributed>=2023.1"],
        "test": ["pytest>=7", "biotite>=0.40", "prody>=2.4", "matplotlib>=3.7",
                 "openmm>=8.0", "pdbfixer>=1.9", "sphinx>=7.2",
                 "mrcfile>=1.4", "dask>=2023.1", "distributed>=2023.1"],
    },
    entry_points={"console_scripts": ["fourier6d=estimators.cli:main"]},
)
