"""The project's own test fixtures: sidecar documents and whole assets, made here, not copied.

- **2.x** sidecars are built with the installed aind-data-schema (2.9.2) models and dumped with
  ``model_dump(mode="json")``, so they are what that release writes and valid by construction.
- **1.x** sidecars are plain dicts written here in the aind-data-schema 1.x (1.4.0) shape:
  small, but complete enough to pass the 1.x models (required fields, the modality checks of
  ``Rig`` and ``Session``, the rig id pattern).

Every document takes the asset's facts (subject id, times, modality) as arguments, so a test
states what it needs and breaks one field of an otherwise valid asset::

    files = asset_files("ecephys_123456_2022-02-21_16-30-01")           # complete, valid, 2.x
    files = asset_files(RAW1, generation=1)                              # complete, valid, 1.x
    make_asset(tmp_path, name, sidecars={"subject.json": broken})        # replace one sidecar
    make_asset(tmp_path, name, drop=["procedures.json"])                 # leave one out

``example_bucket_files()`` is the content of ``examples/bucket/`` (written by
``scripts/make_example_bucket.py``; a test checks the committed folder equals it).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ParamSpec

from tests.store_fixtures import nwb_zarr, ome_zarr_v04

Doc = dict[str, Any]
P = ParamSpec("P")

# AIND's wall-clock times are US Pacific; a fixed standard-time offset keeps every file the
# same on every machine (no time-zone database needed).
PACIFIC = dt.timezone(dt.timedelta(hours=-8))

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})")


def dump(doc: Any) -> str:
    """A sidecar's text, indented as aind-data-schema writes it."""
    return json.dumps(doc, indent=3, ensure_ascii=False) + "\n"


def name_facts(name: str) -> tuple[str, dt.datetime]:
    """(subject id, time of the last timestamp) of an asset name, for the sidecars' defaults.

    The subject id is the part just before the first date; the time is the name's last
    ``YYYY-MM-DD_HH-MM-SS`` as Pacific wall-clock time (a date that does not exist, as
    2023-02-29, rolls over to the next valid one).
    """
    stamps = list(_STAMP.finditer(name))
    if not stamps:
        raise ValueError(f"asset name {name!r} has no YYYY-MM-DD_HH-MM-SS timestamp")
    subject = name[: stamps[0].start()].rstrip("_").rsplit("_", 1)[-1]
    day, hh, mm, ss = stamps[-1].groups()
    year, month, mday = (int(x) for x in day.split("-"))
    base = dt.datetime(year, month, 1, int(hh), int(mm), int(ss), tzinfo=PACIFIC)
    return subject, base + dt.timedelta(days=mday - 1)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


# --------------------------------------------------------------------------------------------
# aind-data-schema 2.x: built with the installed models
# --------------------------------------------------------------------------------------------


def _quiet(build: Callable[P, Doc]) -> Callable[P, Doc]:
    """Build without aind-data-schema's deprecation and 'recommended field' warnings: they are
    about the models, not about the test that asked for a fixture."""

    @functools.wraps(build)
    def quietly(*args: P.args, **kwargs: P.kwargs) -> Doc:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build(*args, **kwargs)

    return quietly


def _json(model: Any) -> Doc:
    doc: Doc = json.loads(model.model_dump_json())
    return doc


def _modality(abbreviation: str) -> Any:
    from aind_data_schema_models.modalities import Modality

    return Modality.from_abbreviation(abbreviation)


@_quiet
def data_description_v2(
    name: str,
    *,
    subject_id: str | None = None,
    creation_time: dt.datetime | None = None,
    level: str | None = None,
    modalities: Iterable[str] = ("ecephys",),
    source_data: list[str] | None = None,
) -> Doc:
    """A 2.x data_description.json. Defaults come from the name; a derived name (or
    ``level="derived"``) gets ``data_level`` derived and, unless given, its source as source_data."""
    from aind_data_schema.components.identifiers import Person
    from aind_data_schema.core.data_description import DataDescription, Funding
    from aind_data_schema_models.data_name_patterns import DataLevel
    from aind_data_schema_models.organizations import Organization

    subject, moment = name_facts(name)
    derived = len(_STAMP.findall(name)) > 1
    level = level or ("derived" if derived else "raw")
    if level == "derived" and source_data is None:
        source_data = [name[: _STAMP.search(name).end()]]  # type: ignore[union-attr]
    dd = DataDescription(
        name=name,
        subject_id=subject_id or subject,
        creation_time=creation_time or moment,
        institution=Organization.AIND,
        funding_source=[Funding(funder=Organization.AI)],
        data_level=DataLevel(level),
        investigators=[Person(name="Jane Doe")],
        project_name="Bucket lint examples",
        modalities=[_modality(m) for m in modalities],
        source_data=source_data,
    )
    return _json(dd)


@_quiet
def subject_v2(subject_id: str, *, born: dt.date = dt.date(2021, 11, 2), sex: str = "Male") -> Doc:
    from aind_data_schema.components.subjects import BreedingInfo, Housing, MouseSubject, Sex
    from aind_data_schema.core.subject import Subject
    from aind_data_schema_models.organizations import Organization
    from aind_data_schema_models.species import Species, Strain

    details = MouseSubject(
        sex=Sex(sex),
        date_of_birth=born,
        strain=Strain.C57BL_6J,
        species=Species.HOUSE_MOUSE,
        genotype="wt/wt",
        source=Organization.AI,
        breeding_info=BreedingInfo(
            maternal_id="500001", maternal_genotype="wt/wt", paternal_id="500002", paternal_genotype="wt/wt"
        ),
        housing=Housing(cage_id="101", home_cage_enrichment=["Running wheel"]),
    )
    return _json(Subject(subject_id=subject_id, subject_details=details))


@_quiet
def procedures_v2(subject_id: str) -> Doc:
    from aind_data_schema.core.procedures import Procedures

    return _json(Procedures(subject_id=subject_id, notes="No procedures before this acquisition."))


@_quiet
def processing_v2(start: dt.datetime) -> Doc:
    """A 2.x processing.json: one compression step, starting at ``start``."""
    from aind_data_schema.components.identifiers import Code
    from aind_data_schema.core.processing import DataProcess, Processing, ProcessName, ProcessStage

    process = DataProcess(
        process_type=ProcessName.COMPRESSION,
        stage=ProcessStage.PROCESSING,
        code=Code(url="https://github.com/AllenNeuralDynamics/aind-data-transformation", version="1.0.0"),
        experimenters=["Jane Doe"],
        start_date_time=start,
        end_date_time=start + dt.timedelta(minutes=5),
    )
    return _json(Processing.create_with_sequential_process_graph(data_processes=[process]))


@_quiet
def instrument_v2(modalities: Iterable[str] = ("ecephys",), *, modified: dt.date = dt.date(2021, 6, 1)) -> Doc:
    """A 2.x instrument.json: a computer, and for SPIM the laser, objective and stage the
    Instrument model requires for that modality."""
    from aind_data_schema.components.coordinates import CoordinateSystemLibrary
    from aind_data_schema.components.devices import (
        AxisName,
        Computer,
        ImmersionMedium,
        Laser,
        Objective,
        ScanningStage,
        StageAxisDirection,
    )
    from aind_data_schema.core.instrument import Instrument
    from aind_data_schema_models.organizations import Organization

    components: list[Any] = [Computer(name="Acquisition computer")]
    if "SPIM" in modalities:
        components += [
            Laser(name="Laser 488", manufacturer=Organization.OTHER, notes="example laser", wavelength=488),
            Objective(
                name="Objective 3.6x", numerical_aperture=0.2, magnification=3.6, immersion=ImmersionMedium.MULTI
            ),
            ScanningStage(
                name="Stage Z",
                travel=50,
                stage_axis_direction=StageAxisDirection.DETECTION_AXIS,
                stage_axis_name=AxisName.Z,
            ),
        ]
    inst = Instrument(
        instrument_id="323_EXAMPLE1",
        modification_date=modified,
        modalities=[_modality(m) for m in modalities],
        global_coordinate_system=CoordinateSystemLibrary.BREGMA_ARI,
        components=components,
    )
    return _json(inst)


@_quiet
def acquisition_v2(subject_id: str, start: dt.datetime, modalities: Iterable[str] = ("ecephys",)) -> Doc:
    """A 2.x acquisition.json: one hour, one stream. An ecephys stream carries the manipulator's
    configuration (the model requires one for ecephys); a stream of a modality that needs more
    device configurations than a fixture should invent (SPIM, pophys, ...) is an external one.
    Its active devices are the instrument's (Metadata checks that), and an in-vivo acquisition
    (no specimen) has the subject details Metadata requires."""
    from aind_data_schema.components.configs import ManipulatorConfig
    from aind_data_schema.components.coordinates import CoordinateSystemLibrary, Translation
    from aind_data_schema.core.acquisition import (
        CONFIG_REQUIREMENTS,
        Acquisition,
        AcquisitionSubjectDetails,
        DataStream,
        ExternalDataStream,
    )

    end = start + dt.timedelta(hours=1)
    mods = [_modality(m) for m in modalities]
    stream: Any
    if not (set(modalities) - {"ecephys"}) & set(CONFIG_REQUIREMENTS):
        configs: list[Any] = []
        devices = ["Acquisition computer"]
        if "ecephys" in modalities:
            configs.append(
                ManipulatorConfig(
                    device_name="Manipulator A",
                    local_coordinate_system=CoordinateSystemLibrary.MPM_MANIP_RFB,
                    local_axis_positions=Translation(translation=[8422, 4205, 11087.5]),
                )
            )
        stream = DataStream(
            stream_start_time=start,
            stream_end_time=end,
            modalities=mods,
            active_devices=devices,
            configurations=configs,
        )
    else:
        stream = ExternalDataStream(stream_start_time=start, stream_end_time=end, modalities=mods)
    specimen = {"SPIM", "confocal"} & set(modalities)
    acq = Acquisition(
        subject_id=subject_id,
        specimen_id=[f"{subject_id}_001"] if specimen else None,
        subject_details=None if specimen else AcquisitionSubjectDetails(mouse_platform_name="Running disc"),
        acquisition_start_time=start,
        acquisition_end_time=end,
        acquisition_type="Example acquisition",
        instrument_id="323_EXAMPLE1",
        experimenters=["Jane Doe"],
        data_streams=[stream],
    )
    return _json(acq)


@_quiet
def quality_control_v2(when: dt.datetime, modality: str = "ecephys") -> Doc:
    from aind_data_schema.core.quality_control import QCMetric, QCStatus, QualityControl, Stage, Status

    status = QCStatus(evaluator="Jane Doe", status=Status.PASS, timestamp=when)
    metric = QCMetric(
        name="Probe drift", modality=_modality(modality), stage=Stage.RAW, value=12.5, status_history=[status]
    )
    return _json(QualityControl(metrics=[metric], default_grouping=["Probe drift"]))


@_quiet
def model_v2() -> Doc:
    from aind_data_schema.components.identifiers import Code
    from aind_data_schema.core.model import Model, ModelArchitecture, ModelPretraining

    model = Model(
        name="example-classifier",
        version="1.0.0",
        example_run_code=Code(url="https://github.com/AllenNeuralDynamics/aind-example-model"),
        architecture=ModelArchitecture.RESNET,
        intended_use="Classify example trials",
        training=[ModelPretraining(source_url="https://example.org/weights")],
    )
    return _json(model)


def v2_sidecars(
    name: str,
    *,
    subject_id: str | None = None,
    modalities: Iterable[str] = ("ecephys",),
    **dd_changes: Any,
) -> dict[str, Doc]:
    """The complete 2.x set of an asset (data_description, subject, procedures, processing,
    instrument, acquisition), agreeing with its name and with each other (upstream's Metadata
    accepts it: processing starts when the acquisition ends)."""
    subject, moment = name_facts(name)
    subject = subject_id or subject
    mods = tuple(modalities)
    start = moment - dt.timedelta(hours=2) if len(_STAMP.findall(name)) > 1 else moment
    return {
        "data_description.json": data_description_v2(name, subject_id=subject, modalities=mods, **dd_changes),
        "subject.json": subject_v2(subject),
        "procedures.json": procedures_v2(subject),
        "processing.json": processing_v2(start + dt.timedelta(hours=1)),
        "instrument.json": instrument_v2(mods),
        "acquisition.json": acquisition_v2(subject, start, mods),
    }


# --------------------------------------------------------------------------------------------
# aind-data-schema 1.x: plain dicts in the 1.4.0 shape
# --------------------------------------------------------------------------------------------

_DESCRIBED_BY_1X = (
    "https://raw.githubusercontent.com/AllenNeuralDynamics/aind-data-schema/main/src/aind_data_schema/core/"
)
_ROR = {"name": "Research Organization Registry", "abbreviation": "ROR"}
AIND_1X = {"name": "Allen Institute for Neural Dynamics", "abbreviation": "AIND", "registry": _ROR,
           "registry_identifier": "04szwah67"}  # fmt: skip
AI_1X = {"name": "Allen Institute", "abbreviation": "AI", "registry": _ROR, "registry_identifier": "03cpe7c52"}
MODALITIES_1X = {
    "ecephys": "Extracellular electrophysiology",
    "behavior": "Behavior",
    "SPIM": "Selective plane illumination microscopy",
}
PLATFORMS_1X = {
    "ecephys": "Electrophysiology platform",
    "behavior": "Behavior platform",
    "SPIM": "SmartSPIM platform",
}


def _modality_1x(abbreviation: str) -> Doc:
    return {"name": MODALITIES_1X[abbreviation], "abbreviation": abbreviation}


def data_description_v1(
    name: str,
    *,
    subject_id: str | None = None,
    creation_time: dt.datetime | None = None,
    level: str | None = None,
    modality: str = "ecephys",
    input_data_name: str | None = None,
) -> Doc:
    """A 1.x data_description.json (1.0.4). A derived one (DerivedDataDescription) names its
    source in ``input_data_name``, by default the source in its name."""
    subject, moment = name_facts(name)
    derived = len(_STAMP.findall(name)) > 1
    level = level or ("derived" if derived else "raw")
    platform = {"name": PLATFORMS_1X[modality], "abbreviation": modality if modality != "SPIM" else "SmartSPIM"}
    doc: Doc = {
        "describedBy": _DESCRIBED_BY_1X + "data_description.py",
        "schema_version": "1.0.4",
        "license": "CC-BY-4.0",
        "platform": platform,
        "subject_id": subject_id or subject,
        "creation_time": iso(creation_time or moment),
        "label": None,
        "name": name,
        "institution": AIND_1X,
        "funding_source": [{"funder": AI_1X, "grant_number": None, "fundee": None}],
        "data_level": level,
        "group": None,
        "investigators": [{"name": "Jane Doe", "abbreviation": None, "registry": None, "registry_identifier": None}],
        "project_name": "Bucket lint examples",
        "restrictions": None,
        "modality": [_modality_1x(modality)],
        "related_data": [],
        "data_summary": None,
    }
    if level == "derived":
        doc["input_data_name"] = input_data_name or name[: _STAMP.search(name).end()]  # type: ignore[union-attr]
    return doc


def subject_v1(subject_id: str, *, born: str = "2021-11-02", sex: str = "Male") -> Doc:
    return {
        "describedBy": _DESCRIBED_BY_1X + "subject.py",
        "schema_version": "1.0.3",
        "subject_id": subject_id,
        "sex": sex,
        "date_of_birth": born,
        "genotype": "wt/wt",
        "species": {
            "name": "Mus musculus",
            "abbreviation": None,
            "registry": {"name": "National Center for Biotechnology Information", "abbreviation": "NCBI"},
            "registry_identifier": "NCBI:txid10090",
        },
        "alleles": [],
        "background_strain": "C57BL/6J",
        "breeding_info": None,
        "source": AI_1X,
        "rrid": None,
        "restrictions": None,
        "wellness_reports": [],
        "housing": None,
        "notes": None,
    }


def procedures_v1(subject_id: str) -> Doc:
    return {
        "describedBy": _DESCRIBED_BY_1X + "procedures.py",
        "schema_version": "1.2.1",
        "subject_id": subject_id,
        "subject_procedures": [],
        "specimen_procedures": [],
        "notes": "No procedures before this session.",
    }


def processing_v1(start: dt.datetime) -> Doc:
    return {
        "describedBy": _DESCRIBED_BY_1X + "processing.py",
        "schema_version": "1.1.4",
        "processing_pipeline": {
            "data_processes": [
                {
                    "name": "Compression",
                    "software_version": "1.0.0",
                    "start_date_time": iso(start),
                    "end_date_time": iso(start + dt.timedelta(minutes=5)),
                    "input_location": "/data/input",
                    "output_location": "/data/output",
                    "code_url": "https://github.com/AllenNeuralDynamics/aind-data-transformation",
                    "code_version": None,
                    "parameters": {},
                    "outputs": {},
                    "notes": None,
                    "resources": None,
                }
            ],
            "processor_full_name": "Jane Doe",
            "pipeline_version": None,
            "pipeline_url": None,
            "note": None,
        },
        "analyses": [],
        "notes": None,
    }


RIG_ID_1X = "323_EPHYS1_20210601"


def rig_v1(*, rig_id: str = RIG_ID_1X, modified: str = "2021-06-01") -> Doc:
    """A 1.x ecephys rig (1.1.1): one ephys assembly (the Rig model requires one for ecephys)."""
    return {
        "describedBy": _DESCRIBED_BY_1X + "rig.py",
        "schema_version": "1.1.1",
        "rig_id": rig_id,
        "modification_date": modified,
        "mouse_platform": {"device_type": "Disc", "name": "Running disc", "radius": "15"},
        "ephys_assemblies": [
            {
                "name": "Ephys assembly A",
                "manipulator": {
                    "device_type": "Manipulator",
                    "name": "Manipulator A",
                    "manufacturer": {
                        "name": "New Scale Technologies",
                        "abbreviation": None,
                        "registry": None,
                        "registry_identifier": None,
                    },
                },
                "probes": [{"device_type": "Ephys probe", "name": "Probe A", "probe_model": "Neuropixels 1.0"}],
            }
        ],
        "calibrations": [],
        "modalities": [_modality_1x("ecephys")],
        "notes": None,
    }


def session_v1(subject_id: str, start: dt.datetime, *, rig_id: str = RIG_ID_1X, modality: str = "ecephys") -> Doc:
    """A 1.x session (1.1.2) with one stream; an ecephys stream has one ephys module (the
    Session model requires one for ecephys)."""
    end = start + dt.timedelta(hours=1)
    module = {
        "assembly_name": "Ephys assembly A",
        "arc_angle": "5.2",
        "module_angle": "8",
        "primary_targeted_structure": {"atlas": "CCFv3", "name": "Primary visual area", "acronym": "VISp", "id": "385"},
        "manipulator_coordinates": {"x": "8422", "y": "4205", "z": "11087.5", "unit": "micrometer"},
    }
    return {
        "describedBy": _DESCRIBED_BY_1X + "session.py",
        "schema_version": "1.1.2",
        "experimenter_full_name": ["Jane Doe"],
        "session_start_time": iso(start),
        "session_end_time": iso(end),
        "session_type": "Receptive field mapping",
        "rig_id": rig_id,
        "subject_id": subject_id,
        "data_streams": [
            {
                "stream_start_time": iso(start),
                "stream_end_time": iso(end),
                "ephys_modules": [module] if modality == "ecephys" else [],
                "stream_modalities": [_modality_1x(modality)],
            }
        ],
        "mouse_platform_name": "Running disc",
        "active_mouse_platform": False,
        "notes": None,
    }


def instrument_v1(*, modified: str = "2021-06-01") -> Doc:
    """A 1.x SmartSPIM instrument (1.0.4)."""
    return {
        "describedBy": _DESCRIBED_BY_1X + "instrument.py",
        "schema_version": "1.0.4",
        "instrument_id": "440_SmartSPIM1_20210601",
        "modification_date": modified,
        "instrument_type": "SmartSPIM",
        "manufacturer": {"name": "LifeCanvas", "abbreviation": None, "registry": None, "registry_identifier": None},
        "objectives": [
            {
                "device_type": "Objective",
                "name": "Objective 3.6x",
                "numerical_aperture": "0.2",
                "magnification": "3.6",
                "immersion": "multi",
            }
        ],
        "notes": None,
    }


def acquisition_v1(subject_id: str, start: dt.datetime) -> Doc:
    """A 1.x SmartSPIM acquisition (1.0.4): one tile, three axes."""
    axes = [
        {"name": name, "dimension": dim, "direction": direction, "unit": "micrometer"}
        for name, dim, direction in (
            ("X", 2, "Left_to_right"),
            ("Y", 1, "Posterior_to_anterior"),
            ("Z", 0, "Superior_to_inferior"),
        )
    ]
    tile = {
        "coordinate_transformations": [{"type": "translation", "translation": ["0", "0", "0"]}],
        "file_name": "tile_000.tif",
        "channel": {
            "channel_name": "488",
            "light_source_name": "Laser 488",
            "filter_names": ["Em 525"],
            "detector_name": "Camera 1",
            "excitation_wavelength": 488,
            "excitation_power": 20,
            "filter_wheel_index": 0,
        },
    }
    return {
        "describedBy": _DESCRIBED_BY_1X + "acquisition.py",
        "schema_version": "1.0.4",
        "experimenter_full_name": ["Jane Doe"],
        "specimen_id": f"{subject_id}-001",
        "subject_id": subject_id,
        "instrument_id": "440_SmartSPIM1_20210601",
        "session_start_time": iso(start),
        "session_end_time": iso(start + dt.timedelta(hours=3)),
        "tiles": [tile],
        "axes": axes,
        "chamber_immersion": {"medium": "oil", "refractive_index": "1.52"},
        "notes": None,
    }


def quality_control_v1(when: dt.datetime, modality: str = "ecephys") -> Doc:
    return {
        "describedBy": _DESCRIBED_BY_1X + "quality_control.py",
        "schema_version": "1.2.2",
        "evaluations": [
            {
                "modality": _modality_1x(modality),
                "stage": "Raw data",
                "name": "Drift",
                "metrics": [
                    {
                        "name": "Probe drift",
                        "value": 12.5,
                        "status_history": [{"evaluator": "Jane Doe", "status": "Pass", "timestamp": iso(when)}],
                    }
                ],
            }
        ],
        "notes": None,
    }


def v1_sidecars(
    name: str, *, subject_id: str | None = None, modality: str = "ecephys", **dd_changes: Any
) -> dict[str, Doc]:
    """The complete 1.x set of an asset: data_description, subject, procedures, processing, and
    session + rig (ecephys, behavior) or acquisition + instrument (SPIM)."""
    subject, moment = name_facts(name)
    subject = subject_id or subject
    docs = {
        "data_description.json": data_description_v1(name, subject_id=subject, modality=modality, **dd_changes),
        "subject.json": subject_v1(subject),
        "procedures.json": procedures_v1(subject),
        "processing.json": processing_v1(moment),
    }
    if modality == "SPIM":
        docs["instrument.json"] = instrument_v1()
        docs["acquisition.json"] = acquisition_v1(subject, moment)
    else:
        docs["rig.json"] = rig_v1()
        docs["session.json"] = session_v1(subject, moment)
    return docs


_DESCRIBED_BY_2X = "https://raw.githubusercontent.com/AllenNeuralDynamics/aind-data-schema/main/src/"


def metadata_record(name: str, fields: Mapping[str, Doc | None]) -> Doc:
    """The record AIND's indexer writes to ``metadata.nd.json`` (2.9.2's ``Metadata``, version
    2.7.6): the Metadata's own fields and each core file embedded (None for one it lacks)."""
    record: Doc = {
        "object_type": "Metadata",
        "describedBy": _DESCRIBED_BY_2X + "aind_data_schema/core/metadata.py",
        "schema_version": "2.7.6",
        "name": name,
        "location": f"s3://example-bucket/{name}",
    }
    record.update(fields)
    return record


# --------------------------------------------------------------------------------------------
# Assets on disk
# --------------------------------------------------------------------------------------------


def sidecars(name: str, generation: int = 2, **changes: Any) -> dict[str, Doc]:
    """The complete, valid sidecar set of an asset of either generation."""
    if generation not in (1, 2):
        raise ValueError(f"no fixtures for generation {generation}")
    built: dict[str, Doc] = (v2_sidecars if generation == 2 else v1_sidecars)(name, **changes)
    return built


_complete_set = sidecars  # asset_files has a parameter of that name


def asset_files(
    name: str,
    generation: int = 2,
    *,
    sidecars: Mapping[str, Doc | str | bytes] | None = None,
    drop: Iterable[str] = (),
    data: Mapping[str, str | bytes] | None = None,
    **changes: Any,
) -> dict[str, str | bytes]:
    """{"NAME/path": content} of a whole asset: its complete sidecar set (``changes`` go to the
    set's builder, e.g. ``subject_id=``, ``modalities=``, ``creation_time=``), with ``sidecars``
    replacing or adding files (a dict is dumped; text or bytes are written as they are),
    ``drop`` leaving files out, and ``data`` adding data files (paths relative to the asset)."""
    docs: dict[str, Doc | str | bytes] = dict(_complete_set(name, generation, **changes))
    docs.update(sidecars or {})
    for bare in drop:
        docs.pop(bare)
    files: dict[str, str | bytes] = {
        f"{name}/{bare}": dump(doc) if isinstance(doc, dict) else doc for bare, doc in docs.items()
    }
    files.update({f"{name}/{rel}": body for rel, body in (data or {}).items()})
    return files


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write {relative path: content} under ``root`` (and the folders); a key ending in '/'
    makes an empty folder."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, body in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
    return root


def make_asset(root: Path, name: str, generation: int = 2, **options: Any) -> Path:
    """Write one asset (see ``asset_files``) under ``root``; return its folder."""
    write_files(root, asset_files(name, generation, **options))
    return root / name


# --------------------------------------------------------------------------------------------
# examples/bucket
# --------------------------------------------------------------------------------------------

EXAMPLE_BAD = "795133_2026-02-10_11-06-18"
EXAMPLE_DUPLICATE = "795133_2026-02-10_11-06-19"
EXAMPLE_DERIVED = f"{EXAMPLE_BAD}_processed_2026-02-11_09-00-00"
EXAMPLE_LEGACY = "ecephys_664438_2023-04-13_14-35-51"
EXAMPLE_VALID_1X = "ecephys_123456_2022-12-12_05-06-07"
EXAMPLE_VALID_2X = f"{EXAMPLE_VALID_1X}_sorted-ks25_2022-12-12_06-07-08"
_TRIALS = "trial,start_time,stop_time\n0,0.0,1.5\n"
_TILE = {"SPIM/tile_000.txt": "tile\n"}


def legacy_data_description(name: str, subject_id: str, moment: dt.datetime) -> Doc:
    """A data_description.json as aind-data-schema 0.4.0 wrote it: time and date apart, the
    modality as a list, no registry records."""
    return {
        "describedBy": "https://raw.githubusercontent.com/AllenNeuralDynamics/aind-data-schema/main/src/"
        "aind_data_schema/data_description.py",
        "schema_version": "0.4.0",
        "license": "CC-BY-4.0",
        "creation_time": moment.strftime("%H:%M:%S"),
        "creation_date": moment.strftime("%Y-%m-%d"),
        "name": name,
        "institution": {"name": "Allen Institute for Neural Dynamics", "abbreviation": "AIND"},
        "investigators": ["Jane Doe"],
        "funding_source": [{"funder": "AI", "grant_number": None, "fundee": None}],
        "data_level": "raw",
        "group": None,
        "project_name": None,
        "restrictions": None,
        "modality": [_modality_1x("ecephys")],
        "experiment_type": "ecephys",
        "subject_id": subject_id,
        "related_data": [],
        "data_summary": None,
    }


def example_bucket_files() -> dict[str, str | bytes]:
    """The content of ``examples/bucket/``: assets laid out like ``s3://aind-open-data``, valid
    ones of both generations and ones broken on purpose, so that every rule has a finding."""
    files: dict[str, str | bytes] = {"notes.txt": "scratch notes that belong to no asset\n"}

    # a raw 2.x asset with four metadata defects: M205, M209, M202, M203 (two errors)
    _, bad_time = name_facts(EXAMPLE_BAD)
    subject = subject_v2("795133")
    subject["subject_details"]["sex"] = "Mal"
    subject["subject_details"]["weight_g"] = 23.5
    broken_json = dump(quality_control_v2(bad_time, "behavior"))
    files |= asset_files(
        EXAMPLE_BAD,
        modalities=["behavior"],
        creation_time=bad_time.astimezone(dt.UTC),  # written in UTC: 8 h off the name's wall clock
        sidecars={
            "subject.json": subject,
            "session.json": session_v1("795133", bad_time, modality="behavior"),  # beside acquisition.json
            "quality_control.json": broken_json[: broken_json.index('"name"') + 12],  # cut short
        },
        data={"behavior/trials.csv": _TRIALS},
    )

    # its derived asset: data_level raw (M207, M203), the wrong source (L304), a sidecar below
    # the root (M210), a 1.x subject.json among 2.x files (valid alone, not by 2.9.2: M213)
    derived = data_description_v2(EXAMPLE_DERIVED, modalities=["behavior"], source_data=["795133_2026-02-09_10-00-00"])
    derived["data_level"] = "raw"
    derived_files = asset_files(
        EXAMPLE_DERIVED,
        modalities=["behavior"],
        sidecars={"data_description.json": derived, "subject.json": subject_v1("795133")},
    )
    derived_files[f"{EXAMPLE_DERIVED}/results/processing.json"] = derived_files[f"{EXAMPLE_DERIVED}/processing.json"]
    derived_files[f"{EXAMPLE_DERIVED}/results/summary.csv"] = "metric,value\nhit_rate,0.82\n"
    files |= derived_files

    # a second raw asset whose data_description names the first (M206, M209) and whose
    # subject.json carries a mistyped id (M208) that its record, metadata.nd.json, has corrected
    # (M212)
    duplicate = {
        "data_description.json": data_description_v2(EXAMPLE_BAD, modalities=["behavior"]),
        "subject.json": subject_v2("795113"),
    }
    record = {bare[:-5]: doc for bare, doc in sidecars(EXAMPLE_DUPLICATE, modalities=["behavior"]).items()}
    record |= {bare[:-5]: doc for bare, doc in duplicate.items()}
    record |= {"subject": subject_v2("795133"), "quality_control": None}
    files |= asset_files(
        EXAMPLE_DUPLICATE,
        modalities=["behavior"],
        sidecars={**duplicate, "metadata.nd.json": metadata_record(EXAMPLE_DUPLICATE, record)},
        data={"behavior/trials.csv": _TRIALS},
    )

    # naming: a placeholder time (N107), a derived asset stored inside its source (L301), a
    # space in the subject id (N104), an underscore in a label (N101), a derived asset older
    # than its source whose source is absent (N105, L303), a daisy chain (N106, L303), a
    # lower-case platform and a day that does not exist (N102, N103)
    # cloud formats (Z5xx): a valid OME-Zarr beside the tile here, a broken one (a resolution level
    # never written) in the SmartSPIM asset below; only a tile in smartspim_653158 (Z509)
    files |= asset_files(
        "HCR_703179_2024-03-24_00-00-00", modalities=["SPIM"], data={**_TILE, **ome_zarr_v04("SPIM/tile_000.ome.zarr")}
    )
    smartspim = "SmartSPIM_623711_2022-10-27_16-48-54"
    stitched = f"{smartspim}_stitched_2022-11-01_08-00-00/stitched/README.txt"
    files |= asset_files(
        smartspim,
        modalities=["SPIM"],
        data={
            **_TILE,
            stitched: "stitched, but stored inside its source\n",
            **ome_zarr_v04("SPIM/tile_000.ome.zarr", drop_level=2),
        },
    )
    files |= asset_files(
        "behavior_6149 10_2022-05-12_17-02-11", modalities=["behavior"], data={"behavior/trials.csv": _TRIALS}
    )
    files |= asset_files(
        "behavior_754897_2025-03-12_12-23-09_sorted_curated_2025-03-25_22-33-24",
        modalities=["behavior"],
        data={"behavior/trials.csv": "trial,outcome\n"},
    )
    files |= asset_files(  # its NWB-Zarr was cut off: .zmetadata lists a TimeSeries never written (Z502)
        "ecephys_661278_2023-04-10_17-09-26_sorted_2023-04-09_10-00-00",
        data={
            "sorting/units.csv": "unit_id\n",
            **nwb_zarr("nwb/session.nwb.zarr", never_written=("acquisition/voltage", "acquisition/voltage/data")),
        },
    )
    fusion = "exaSPIM_674191_2023-09-12_12-37-37_flatfield-correction_2023-11-17_00-21-42_fusion_2023-12-02_23-56-00"
    files |= asset_files(
        fusion,
        modalities=["SPIM"],
        source_data=["exaSPIM_674191_2023-09-12_12-37-37_flatfield-correction_2023-11-17_00-21-42"],
        data={"fusion/README.txt": "fused\n"},
    )
    files |= asset_files("smartspim_653158_2023-02-29_10-00-00", modalities=["SPIM"], data=_TILE)

    # a legacy asset: a 0.4.0 data_description (M204 warning), a subject.json without
    # schema_version (M204 error), four required sidecars missing (M201)
    _, legacy_time = name_facts(EXAMPLE_LEGACY)
    legacy_subject = subject_v1("664438")
    del legacy_subject["schema_version"]
    files |= {
        f"{EXAMPLE_LEGACY}/data_description.json": dump(legacy_data_description(EXAMPLE_LEGACY, "664438", legacy_time)),
        f"{EXAMPLE_LEGACY}/subject.json": dump(legacy_subject),
        f"{EXAMPLE_LEGACY}/ecephys/README.txt": "Open Ephys recording (not included in the example).\n",
    }

    # valid assets of both generations: a raw 1.x asset and its sorted 2.x asset, no finding
    files |= asset_files(EXAMPLE_VALID_1X, generation=1, data={"ecephys/ecephys_clipped/settings.xml": "<SETTINGS/>\n"})
    files |= asset_files(
        EXAMPLE_VALID_2X,
        data={"sorting/units.csv": "unit_id,firing_rate\n", **nwb_zarr("nwb/session.nwb.zarr")},
    )
    return dict(sorted(files.items()))
