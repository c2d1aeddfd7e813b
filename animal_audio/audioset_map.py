"""All 50 ESC-50 classes and the AudioSet classes (YAMNet's 521) that name each one, for zero-shot YAMNet.
Chosen once from the AudioSet ontology's meaning, fixed, never tuned on any fold: a mapping picked by
looking at test scores would leak the test fold into the zero-shot result."""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from animal_audio.labels import AUDIOSET_TO_ANIMAL, CLASSES, DISPLAY_NAMES

#: ESC-50 targets 0-49 in target order, spelled as in meta/esc50.csv's `category` column.
ESC50_CLASSES: tuple[str, ...] = (
    *CLASSES,  # the ten animals, targets 0-9
    "rain",
    "sea_waves",
    "crackling_fire",
    "crickets",
    "chirping_birds",
    "water_drops",
    "wind",
    "pouring_water",
    "toilet_flush",
    "thunderstorm",
    "crying_baby",
    "sneezing",
    "clapping",
    "breathing",
    "coughing",
    "footsteps",
    "laughing",
    "brushing_teeth",
    "snoring",
    "drinking_sipping",
    "door_wood_knock",
    "mouse_click",
    "keyboard_typing",
    "door_wood_creaks",
    "can_opening",
    "washing_machine",
    "vacuum_cleaner",
    "clock_alarm",
    "clock_tick",
    "glass_breaking",
    "helicopter",
    "chainsaw",
    "siren",
    "car_horn",
    "engine",
    "train",
    "church_bells",
    "airplane",
    "fireworks",
    "hand_saw",
)

#: What a person reads (the animals': labels.DISPLAY_NAMES).
ESC50_DISPLAY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        **DISPLAY_NAMES,
        "rain": "Rain",
        "sea_waves": "Sea waves",
        "crackling_fire": "Crackling fire",
        "crickets": "Crickets",
        "chirping_birds": "Chirping birds",
        "water_drops": "Water drops",
        "wind": "Wind",
        "pouring_water": "Pouring water",
        "toilet_flush": "Toilet flush",
        "thunderstorm": "Thunderstorm",
        "crying_baby": "Crying baby",
        "sneezing": "Sneezing",
        "clapping": "Clapping",
        "breathing": "Breathing",
        "coughing": "Coughing",
        "footsteps": "Footsteps",
        "laughing": "Laughing",
        "brushing_teeth": "Brushing teeth",
        "snoring": "Snoring",
        "drinking_sipping": "Drinking, sipping",
        "door_wood_knock": "Door knock",
        "mouse_click": "Mouse click",
        "keyboard_typing": "Keyboard typing",
        "door_wood_creaks": "Door, wood creaks",
        "can_opening": "Can opening",
        "washing_machine": "Washing machine",
        "vacuum_cleaner": "Vacuum cleaner",
        "clock_alarm": "Clock alarm",
        "clock_tick": "Clock tick",
        "glass_breaking": "Glass breaking",
        "helicopter": "Helicopter",
        "chainsaw": "Chainsaw",
        "siren": "Siren",
        "car_horn": "Car horn",
        "engine": "Engine",
        "train": "Train",
        "church_bells": "Church bells",
        "airplane": "Airplane",
        "fireworks": "Fireworks",
        "hand_saw": "Hand saw",
    }
)

# AudioSet display names (as in yamnet_class_map.csv; ontology ids in comments) -> ESC-50 class, by what
# the ontology says each AudioSet class IS. Same rules as labels.AUDIOSET_TO_ANIMAL, now over 50 classes:
# - a generic parent that does not say which ESC-50 class it is stays out ("Animal", "Bird", "Water",
#   "Liquid", "Vehicle", "Hands", "Bell", "Glass", "Tools", "Mechanisms", "Alarm", ...): its mass is "other";
# - a class that names two ESC-50 classes stays out ("Chicken, rooster": hen and rooster; "Door": knock
#   and creaks; "Clock": tick and alarm; "Aircraft": helicopter and airplane; "Clickety-clack": typewriter
#   keys and train wheels; "Light engine (high frequency)": small engines and its child Chainsaw);
# - except a parent that is the ESC-50 class itself ("Insect", "Breathing", "Engine"): it stays with that
#   class although one child has its own ("Cricket" -> crickets, "Snoring", "Chainsaw" via Light engine);
# - where AudioSet has nothing specific, the closest class stands in, marked "closest" below.
# Each AudioSet class maps to one ESC-50 class at most (a dict key has one value).
AUDIOSET_TO_ESC50: Mapping[str, str] = MappingProxyType(
    {
        # --- the 10 animals: labels.AUDIOSET_TO_ANIMAL (its rules and ids), except "Cricket": crickets below.
        **{name: animal for name, animal in AUDIOSET_TO_ANIMAL.items() if name != "Cricket"},
        # --- natural soundscapes
        "Rain": "rain",  # /m/06mb1
        "Raindrop": "rain",  # /m/07r10fb
        "Rain on surface": "rain",  # /t/dd00038
        "Waves, surf": "sea_waves",  # /m/034srq
        "Ocean": "sea_waves",  # /m/05kq4 (only child: Waves, surf)
        "Fire": "crackling_fire",  # /m/02_41
        "Crackle": "crackling_fire",  # /m/07pzfmf (child of Fire)
        # Cricket: in the 10-animal set it counts for insects (labels.py); with crickets a class, it is crickets.
        "Cricket": "crickets",  # /m/09xqv
        # "Bird" (/m/015p6) is out: parent of Crow. Squawk (harsh), Pigeon/Coo, Owl/Hoot are not chirping.
        "Bird vocalization, bird call, bird song": "chirping_birds",  # /m/020bb7
        "Chirp, tweet": "chirping_birds",  # /m/07pggtn
        # Raindrop is rain; Plop (object into liquid) is not a drop of water.
        "Drip": "water_drops",  # /m/07r5v4s
        "Wind": "wind",  # /m/03m9d0z
        "Wind noise (microphone)": "wind",  # /t/dd00092
        "Rustling leaves": "wind",  # /m/09t49 (child of Wind)
        # "Water tap, faucet" and "Gurgling" are out: running or bubbling water, not pouring.
        "Pour": "pouring_water",  # /m/07prgkl
        "Trickle, dribble": "pouring_water",  # /m/07pqc89 (child of Pour)
        "Gush": "pouring_water",  # /t/dd00088 (child of Pour)
        "Fill (with liquid)": "pouring_water",  # /m/07p7b8y
        "Toilet flush": "toilet_flush",  # /m/01jt3m
        "Thunderstorm": "thunderstorm",  # /m/0jb2l
        "Thunder": "thunderstorm",  # /m/0ngt1
        # --- human, non-speech
        # "Crying, sobbing" and "Whimper" are out: they do not say it is a baby (as "Bird" is not "Crow").
        "Baby cry, infant cry": "crying_baby",  # /t/dd00002
        "Sneeze": "sneezing",  # /m/01hsr_
        # "Hands" (/m/0k65p) is out: generic (finger snapping, and hands knock, type and click).
        "Clapping": "clapping",  # /m/0l15bq
        "Applause": "clapping",  # /m/028ght (clapping by a group)
        # "Breathing" stays though it is Snoring's parent: it is this class. Snort is out (pigs snort).
        "Breathing": "breathing",  # /m/0lyf6
        "Wheeze": "breathing",  # /m/07mzm6
        "Gasp": "breathing",  # /m/07s0dtb
        "Pant": "breathing",  # /m/07pyy8b
        "Cough": "coughing",  # /m/01b_21
        "Throat clearing": "coughing",  # /m/0dl9sf8 (child of Cough)
        "Walk, footsteps": "footsteps",  # /m/07pbtc8
        "Run": "footsteps",  # /m/06h7j (human locomotion)
        "Shuffle": "footsteps",  # /m/07qv_x_ (human locomotion)
        "Laughter": "laughing",  # /m/01j3sz
        "Baby laughter": "laughing",  # /t/dd00001
        "Giggle": "laughing",  # /m/07r660_
        "Snicker": "laughing",  # /m/07s04w4
        "Belly laugh": "laughing",  # /m/07sq110
        "Chuckle, chortle": "laughing",  # /m/07rgt08
        "Toothbrush": "brushing_teeth",  # /m/012xff
        "Electric toothbrush": "brushing_teeth",  # /m/04fgwm
        "Snoring": "snoring",  # /m/01d3sd
        # closest: AudioSet has no drinking, sipping or slurping; Gargling is liquid in the mouth.
        "Gargling": "drinking_sipping",  # /m/0939n_
        # --- interior, domestic
        # closest: Knock is generic (any rigid surface) but a child of Door; "Tap" (also generic) is out.
        "Knock": "door_wood_knock",  # /m/07r4wb8
        # closest: AudioSet has no mouse; Clicking is generic and the parent of Tick (clock_tick).
        "Clicking": "mouse_click",  # /m/07qc9xj
        "Typing": "keyboard_typing",  # /m/0316dw
        "Computer keyboard": "keyboard_typing",  # /m/01m2v
        "Typewriter": "keyboard_typing",  # /m/0c2wf (typing on a mechanical keyboard)
        # closest: Creak ("most commonly on wood") is generic; Squeak is a child of Door.
        "Creak": "door_wood_creaks",  # /m/07qh7jl
        "Squeak": "door_wood_creaks",  # /m/07q6cd_
        # closest: no can or fizz class; "an enclosure holding gas or liquid coming open suddenly".
        "Burst, pop": "can_opening",  # /m/07qsvvw
        # closest: no washing machine class; Slosh is "liquid held in a container" sloshing.
        "Slosh": "washing_machine",  # /m/07p6mqd
        "Vacuum cleaner": "vacuum_cleaner",  # /m/0d31p
        # "Alarm" is out (parent of Siren, car horns, ...); Beep, Buzzer, Ringtone are generic signals.
        "Alarm clock": "clock_alarm",  # /m/046dlr
        # "Clock" is out (an alarm clock is a clock); Tick-tock is "a ticking sound as made by a clock".
        "Tick": "clock_tick",  # /m/07qjznt (child of Clock)
        "Tick-tock": "clock_tick",  # /m/07qjznl
        # "Glass" (also Chink, clink), "Breaking", "Smash, crash" are out: they do not say glass breaks.
        "Shatter": "glass_breaking",  # /m/07rn7sz (child of Glass)
        # --- exterior, urban
        "Helicopter": "helicopter",  # /m/09ct_
        "Chainsaw": "chainsaw",  # /m/01j4z9
        # "Emergency vehicle" is out: it names a vehicle (engine too), not its siren.
        "Siren": "siren",  # /m/03kmc9
        "Police car (siren)": "siren",  # /m/04qvtq
        "Ambulance (siren)": "siren",  # /m/012n7d
        "Fire engine, fire truck (siren)": "siren",  # /m/012ndj
        "Civil defense siren": "siren",  # /m/0dgbq
        # "Car", "Truck" are out: each is the parent of a horn (car_horn) and also names its engine.
        "Vehicle horn, car horn, honking": "car_horn",  # /m/0912c9
        "Toot": "car_horn",  # /m/07qv_d5
        "Air horn, truck horn": "car_horn",  # /m/05x_td (a road vehicle's horn)
        # "Engine" stays though it is the parent of Jet engine and Chainsaw's parent: it is this class.
        "Engine": "engine",  # /m/02mk9
        "Medium engine (mid frequency)": "engine",  # /t/dd00066
        "Heavy engine (low frequency)": "engine",  # /t/dd00067
        "Engine knocking": "engine",  # /m/01h82_
        "Engine starting": "engine",  # /t/dd00130
        "Idling": "engine",  # /m/07pb8fc
        "Accelerating, revving, vroom": "engine",  # /m/07q2z82
        "Train": "train",  # /m/07jdr
        "Rail transport": "train",  # /m/06d_3 (all its children are trains)
        "Train whistle": "train",  # /m/04zmvq
        "Train horn": "train",  # /m/0284vy3
        "Railroad car, train wagon": "train",  # /m/01g50p
        "Train wheels squealing": "train",  # /t/dd00048
        "Subway, metro, underground": "train",  # /m/0195fx
        # "Bell" (/m/0395lw) is out: generic (cowbell, jingle, bicycle bell, ...).
        "Church bell": "church_bells",  # /m/03w41f
        "Change ringing (campanology)": "church_bells",  # /m/0150b9 (tuned tower bells)
        # "Aircraft", "Aircraft engine" are out: parents of Helicopter too.
        "Fixed-wing aircraft, airplane": "airplane",  # /m/0cmf2
        "Jet engine": "airplane",  # /m/04229 (also under Engine; jets are fixed-wing)
        "Propeller, airscrew": "airplane",  # /m/02l6bg (a helicopter has rotors)
        # "Explosion" is out: parent of Burst, pop (can_opening) and gunshots.
        "Fireworks": "fireworks",  # /m/0g6b5
        "Firecracker": "fireworks",  # /g/122z_qxw
        # closest: Sawing covers manual and motorized saws; Chainsaw has its own class.
        "Sawing": "hand_saw",  # /m/01b82r
    }
)
