"""The library's messages a visitor meets, in Russian: each English template (its {fields} are whatever the
message holds there) with its translation. The log keeps the English; the app shows `translated(message)`."""

from __future__ import annotations

import functools
import re
import string

from animal_audio.demo import text
from animal_audio.formatting import MODEL_TITLES, model_title
from animal_audio.i18n import tr

#: (English as the library writes it, Russian). A message none of them matches whole stays English.
RUSSIAN: tuple[tuple[str, str], ...] = (
    (
        "No audio yet: record a sound with the microphone or upload a file, then press Classify.",
        "Звука пока нет: запишите его микрофоном или загрузите файл, затем нажмите «Распознать».",
    ),
    (
        "The audio is empty (0 samples). Record again or upload a clip with sound in it.",
        "Запись пустая (0 отсчётов). Запишите ещё раз или загрузите запись со звуком.",
    ),
    (
        "The audio contains invalid samples (NaN or infinity). Re-export it from your audio editor as 16-bit WAV and try again.",
        "В записи есть недопустимые отсчёты (NaN или бесконечность). Пересохраните её в аудиоредакторе как 16-битный WAV и попробуйте снова.",
    ),
    (
        "The clip is too short ({seconds} s). Record or upload at least {least} s of sound; 1-5 s works best.",
        "Запись слишком короткая ({seconds} с). Запишите или загрузите хотя бы {least} с звука; лучше всего 1-5 с.",
    ),
    (
        "The clip is silent (no sound above -60 dBFS). Check that the microphone is allowed and not muted, then record again closer to the sound.",
        "Запись беззвучна (ничего громче -60 dBFS). Проверьте, что микрофон разрешён и не выключен, и запишите снова ближе к источнику звука.",
    ),
    (
        "The clip is {length} long; the limit is {limit} s. Trim it to the part with the animal and try again.",
        "Запись длится {length}, а предел {limit} с. Обрежьте её до фрагмента с животным и попробуйте снова.",
    ),
    (
        "The clip is {length} long; only the first {limit} s were used.",
        "Запись длится {length}; использованы только первые {limit} с.",
    ),
    ("Mixed {channels} channels down to mono.", "Каналы ({channels}) сведены в моно."),
    (
        "Scaled the audio down: its samples went beyond [-1, 1].",
        "Громкость уменьшена: отсчёты выходили за пределы [-1, 1].",
    ),
    (
        "The uploaded file is empty (0 bytes). Upload a real audio file.",
        "Загруженный файл пуст (0 байт). Загрузите настоящий аудиофайл.",
    ),
    (
        "{name} is empty (0 bytes). Upload a real audio file.",
        "Файл {name} пуст (0 байт). Загрузите настоящий аудиофайл.",
    ),
    (
        "No audio file named {name}. Check the path and try again.",
        "Аудиофайла {name} нет. Проверьте путь и попробуйте снова.",
    ),
    (
        "No audio was recorded. Press record, make the sound, then stop.",
        "Ничего не записалось. Нажмите запись, издайте звук и остановите запись.",
    ),
    (
        "Sample rate {rate} Hz is not supported: use {low}-{high} kHz (for example 16, 44.1 or 48 kHz).",
        "Частота дискретизации {rate} Гц не поддерживается: используйте {low}-{high} кГц (например, 16, 44,1 или 48 кГц).",
    ),
    (
        "The audio has {channels} channels; at most {most} are supported. Export it as mono or stereo and try again.",
        "В записи {channels} каналов, а поддерживается не больше {most}. Сохраните её как моно или стерео и попробуйте снова.",
    ),
    (
        "Could not read {name} as audio: the file is corrupt or in an unsupported format. Use {formats}.",
        "Не удалось прочитать {name} как звук: файл повреждён или в неподдерживаемом формате. Используйте {formats}.",
    ),
    (
        "Decoding {name} took too long (over {seconds} s): the file is damaged or unusual. Convert it to WAV or MP3 and try again.",
        "Декодирование {name} заняло слишком много времени (больше {seconds} с): файл повреждён или необычен. Сконвертируйте его в WAV или MP3 и попробуйте снова.",
    ),
    (
        "Too many requests: {limit} classifications a minute per visitor. Wait {wait} s.",
        "Слишком много запросов: не больше {limit} распознаваний в минуту на посетителя. Подождите {wait} с.",
    ),
    (
        "{model} is still loading (first start after launch). Try again in a moment.",
        "{model} ещё загружается (первый старт после запуска). Попробуйте чуть позже.",
    ),
    (
        "No trained HuBERT yet: the default {default} is the self-supervised base model, which has never been trained on the 10 animals.",
        "Обученного HuBERT пока нет: {default} по умолчанию — базовая самообученная модель, её никогда не учили на 10 животных.",
    ),
    (text.LEARNING_NOTE, tr("learning_note", "ru")),
    ("about {time} left", "осталось около {time}"),
    ("a few minutes left", "осталось несколько минут"),
    (text.SIDE_FAILED, tr("side_failed", "ru")),
    (text.CLASSIFY_FAILED, tr("classify_failed", "ru")),
    (
        text.LOAD_FAILED,
        "{model} не удалось загрузить (непредвиденная ошибка, код {error_id}). Подробности есть в журнале сервера "
        "под этим кодом: устраните причину и нажмите *Загрузить снова*.",
    ),
    (
        text.IMPORT_FAILED,
        "Не удалось импортировать код этой модели (`{module}` отсутствует или сломан). "
        "Установите зависимости: `pip install -r requirements.txt`.",
    ),
    (
        text.RUN_FAILED,
        "Запуск неожиданно прервался (код ошибки {error_id}). Подробности есть в журнале сервера под этим кодом.",
    ),
    (
        text.FETCH_CLOSED,
        "Здесь записи ESC-50 готовит оператор (тёплый старт или ANIMAL_AUDIO_ESC50): посетители не могут "
        "запустить скачивание (~1,5 ГБ на диске).",
    ),
    (
        "Training is turned off on this app (ANIMAL_AUDIO_TRAINING=off).",
        "Обучение в этом приложении выключено (ANIMAL_AUDIO_TRAINING=off).",
    ),
    (
        "Signed in as {user}: only this Space's owner and its admins may train here.",
        "Вы вошли как {user}: обучать здесь могут только владелец этого Space и его администраторы.",
    ),
    (
        "Training here belongs to the operator, and sign-in works only on Hugging Face Spaces. Results of earlier runs are shown below.",
        "Обучение здесь запускает только оператор, а вход работает только на Hugging Face Spaces. Результаты прошлых запусков показаны ниже.",
    ),
    (
        "Training belongs to this Space's owner: sign in with Hugging Face above to train.",
        "Обучать здесь может владелец этого Space: чтобы обучать, войдите через Hugging Face выше.",
    ),
    ("{model}: not run: {why}", "{model}: не запускается: {why}"),
    (  # a run's protocol (run_results._protocol_description), in its summary line
        "fixed split of {origin}: train folds 1-3, validation fold 4, test fold 5",
        "фиксированное разбиение ({origin}): обучение на фолдах 1-3, валидация на фолде 4, тест на фолде 5",
    ),
    (
        "5-fold cross-validation over {origin}: each fold is the test set once; mean and sample std over folds",
        "5-кратная кросс-валидация ({origin}): каждый фолд по одному разу служит тестовым; среднее и выборочное "
        "стандартное отклонение по фолдам",
    ),
    (
        "The HuBERT base weights ({source}) cannot be downloaded here: downloads are off ({variables}) and they are not in the local Hugging Face cache.",
        "Базовые веса HuBERT ({source}) здесь не скачать: скачивание выключено ({variables}), а в локальном кэше Hugging Face их нет.",
    ),
    # The Models panel: where each side's weights come from and what it is (wrappers first: they hold the rest).
    ("{source} (set by the app)", "{source} (задано приложением)"),
    ("{source} (from {variable})", "{source} (из {variable})"),
    ("{source} (default)", "{source} (по умолчанию)"),
    ("{source} (zero-shot)", "{source} (zero-shot)"),
    ("built-in YAMNet (TFLite, int8 weights)", "встроенный YAMNet (TFLite, веса int8)"),
    ("YAMNet TFLite file {path}", "YAMNet, файл TFLite {path}"),
    ("YAMNet from TF Hub (float): {handle}", "YAMNet с TF Hub (float): {handle}"),
    ("YAMNet SavedModel (float) in {path}", "YAMNet SavedModel (float) в {path}"),
    (
        "YAMNet zero-shot: AudioSet classes mapped onto the 10 animals; {source}",
        "YAMNet zero-shot: классы AudioSet сопоставлены с 10 животными; {source}",
    ),
    (
        "linear head trained in run {run} on {source}",
        "линейная голова, обученная в запуске {run}, на {source}",
    ),
    ("linear head trained in run {run} ({folder})", "линейная голова, обученная в запуске {run} ({folder})"),
    ("{name}: {probe}; embeddings from {source}", "{name}: {probe}; признаки из {source}"),
    ("linear probe (not trained)", "линейный зонд (не обучен)"),
    (
        "linear probe on {dim}-d {embedder}, trained on {count} clips",
        "линейный зонд на {dim}-мерных признаках {embedder}, обучен на {count} записях",
    ),
    ("linear probe on {dim}-d {embedder}", "линейный зонд на {dim}-мерных признаках {embedder}"),
    (
        "HuBERT classifier {source} on {device} ({backend}, {mode})",
        "классификатор HuBERT {source} на {device} ({backend}, {mode})",
    ),
    (
        "HuBERT embedder {source}, layer {layer}, on {device} ({backend})",
        "HuBERT-эмбеддер {source}, слой {layer}, на {device} ({backend})",
    ),
    ("Loads on the first classification.", "Загрузится при первом распознавании."),
    # A run's results table: what a model was trained on, and the words for none.
    ("nothing", "ничего"),
    ("none", "нет"),
    ("not run", "не запущена"),
    ("train + validation folds", "фолды обучения и валидации"),
    (
        "train folds; validation fold for early stopping",
        "фолды обучения; фолд валидации для ранней остановки",
    ),
    ("{why} Warm start could not train it: {reason}", "{why} Тёплый старт не смог обучить её: {reason}"),
    (
        "Stopped: the run reached this app's time limit ({variable}). Finished steps are kept.",
        "Остановлено: запуск дошёл до предела времени этого приложения ({variable}). Готовые шаги сохранены.",
    ),
    ("A long run", "Долгий запуск"),
    ("Busy", "Занято"),
    ("Training started", "Обучение началось"),
    (
        "Only whoever started this run, or an admin, can cancel it.",
        "Отменить запуск может только тот, кто его начал, или администратор.",
    ),
    (
        "Choose at least one model to train and compare.",
        "Выберите хотя бы одну модель для обучения и сравнения.",
    ),
    ("Epochs must be a number from {low} to {high}.", "Число эпох должно быть от {low} до {high}."),
    (
        "A comparison is already running (started at {since}, now at {stage}). Only one runs at a time: wait for it, or stop it with Cancel.",
        "Сравнение уже идёт (начато в {since}, сейчас: {stage}). Одновременно идёт только одно: дождитесь его или остановите кнопкой «Отмена».",
    ),
    (
        "The ESC-50 animal clips are not on this machine yet ({folder}). Press **Get the ESC-50 clips** above (downloads ~600 MB once), or set ANIMAL_AUDIO_ESC50 to a local copy of ESC-50 and restart.",
        "Записей животных из ESC-50 на этом компьютере пока нет ({folder}). Нажмите **Скачать записи ESC-50** выше (~600 МБ, один раз) или укажите в ANIMAL_AUDIO_ESC50 локальную копию ESC-50 и перезапустите приложение.",
    ),
    (
        "Expected time on this machine ({where}): **about {time}**.",
        "Ожидаемое время на этом компьютере ({where}): **около {time}**.",
    ),
    (
        "Expected time on this machine ({where}): about {time}.",
        "Ожидаемое время на этом компьютере ({where}): около {time}.",
    ),
    (
        "Expected time on this machine ({where}): **about {time}**. That is long: the quick mode (linear heads only) finishes in minutes.",
        "Ожидаемое время на этом компьютере ({where}): **около {time}**. Это долго: быстрый режим (только линейные головы) занимает минуты.",
    ),
    (
        "This comparison takes about {time} on this machine. Press Start again to begin anyway, or choose the quick mode (minutes).",
        "Это сравнение займёт на этом компьютере около {time}. Нажмите «Начать» ещё раз, чтобы всё равно запустить его, или выберите быстрый режим (минуты).",
    ),
    (
        "This comparison takes about {time} on this machine, more than the {limit} a run may take here ({variable}). Choose fewer models or the quick mode.",
        "Это сравнение займёт на этом компьютере около {time}, больше {limit}, отведённых здесь на запуск ({variable}). Выберите меньше моделей или быстрый режим.",
    ),
    # --- the Classify tab's views: the clip map, "none of the ten?", the robustness lab
    (
        "The map of the ESC-50 clips for this model is being prepared (once per run, in the background): ask again in a minute or two.",
        "Карта записей ESC-50 для этой модели готовится (один раз на запуск, в фоне): спросите снова через минуту-другую.",
    ),
    (
        "The map of the ESC-50 clips for this model is next, after the one being prepared now.",
        "Карта записей ESC-50 для этой модели — следующая, после той, что готовится сейчас.",
    ),
    (
        "No clip map: this model is zero-shot, or no run here trained it (a map lives in its run's folder).",
        "Карты записей нет: эта модель работает без обучения (zero-shot), или здесь её не обучал ни один запуск (карта хранится в папке запуска).",
    ),
    (
        "This model's answer came without its embedding: no clip map.",
        "Ответ этой модели пришёл без эмбеддинга: карты записей нет.",
    ),
    (
        "The nearest clips could not be found (error id {error_id}); the server log has the details.",
        "Не удалось найти ближайшие записи (код ошибки {error_id}); подробности в журнале сервера.",
    ),
    ("The clip map could not be built: {why}", "Не удалось построить карту записей: {why}"),
    ("No map for this model.", "Для этой модели карты нет."),
    (
        "{who}: this is farther from every ESC-50 clip than nearly all of them are from their own animal: probably not one of the ten",
        "{who}: запись дальше от любой записи ESC-50, чем почти все они от своего животного: вероятно, это не одно из десяти",
    ),
    (
        "only {share} of YAMNet's score is on the ten animals' classes",
        "лишь {share} оценки YAMNet приходится на классы десяти животных",
    ),
    (
        "YAMNet scores {heard} {score}, above every class of the ten (best {best})",
        "YAMNet оценивает {heard} в {score}, выше любого из десяти классов (лучший {best})",
    ),
    (
        "No audio yet: record or upload a clip (or pick an example) above, then try the lab.",
        "Звука пока нет: запишите или загрузите запись (или выберите пример) выше, затем попробуйте лабораторию.",
    ),
    ("Unknown transform: choose one of {names}.", "Неизвестное изменение: выберите одно из {names}."),
    (
        "Give at least one level (a number, or a list of up to {most} numbers).",
        "Укажите хотя бы один уровень (число или список до {most} чисел).",
    ),
    (
        "At most {most} levels at a time: each is a pass of both models.",
        "Не больше {most} уровней за раз: каждый — это проход обеих моделей.",
    ),
    (
        "Levels are numbers: {title} takes {low} to {high} {unit}.",
        "Уровни — это числа: {title} принимает от {low} до {high} {unit}.",
    ),
    (
        "{title}: level {level} is out of range; use {low} to {high} {unit}.",
        "{title}: уровень {level} вне диапазона; используйте от {low} до {high} {unit}.",
    ),
    (
        "Something went wrong in the robustness lab (error id {error_id}). Try another clip; if it keeps happening, the server log has the details under that id.",
        "В лаборатории устойчивости что-то пошло не так (код ошибки {error_id}). Попробуйте другую запись; если это повторяется, подробности есть в журнале сервера под этим кодом.",
    ),
)
#: English words inside a message's fields (durations, machine, lists), in Russian.
FIELD_WORDS: tuple[tuple[str, str], ...] = (
    (r"(\d) s\b", r"\1 с"),
    (r"(\d) min\b", r"\1 мин"),
    (r"(\d) h\b", r"\1 ч"),
    (r"\b(\d+) CPU cores?\b", r"ядер CPU: \1"),
    (r"\bno GPU\b", "без GPU"),
    (r"\ba few minutes left\b", "осталось несколько минут"),
    (r"\babout (.+) left\b", r"осталось около \1"),
    (r" or ", " или "),
    (r"^ESC-50's folds$", "фолды ESC-50"),
    (  # a folder's folds (folder_data.py)
        r"^5 stratified folds of (.+)/, seeded with (\d+) \(recordings kept together\)$",
        r"5 стратифицированных фолдов папки \1/, seed \2 (клипы одной записи в одном фолде)",
    ),
)
#: Lines of one message (Markdown's line break): each is translated on its own.
LINE_BREAK = "  \n"
#: Fields that hold a whole message of their own ("{model}: not run: {why}"): translated as one.
NESTED = ("why", "source", "probe")
#: Marks the app puts before a message ("⚠️ " + why): kept, and the message after them translated.
MARKS = ("⚠️ ", "❌ ", "🔒 ")


def translated(message: str, lang: str) -> str:
    """`message` in `lang` when a template matches it (or each of its lines), else as it is."""
    if LINE_BREAK in message:
        return LINE_BREAK.join(translated(line, lang) for line in message.split(LINE_BREAK))
    for pattern, target in _templates(lang):
        match = pattern.fullmatch(message)
        if match:
            fields = {k: _filled(k, v, lang) for k, v in match.groupdict().items()}
            return target.format(**fields)
    mark = next((m for m in MARKS if message.startswith(m)), "")
    return mark + translated(message[len(mark) :], lang) if mark else message


def _filled(name: str, value: str, lang: str) -> str:
    """A template field's text in `lang`: a nested message, a model's title, or a value with units."""
    if name in NESTED:
        return translated(value, lang)
    if name == "model":
        mark = next((m for m in MARKS if value.startswith(m)), "")  # "⚠️ HuBERT + linear probe: not run: ..."
        title = value[len(mark) :]
        return mark + next(
            (model_title(m, lang) for m, known in MODEL_TITLES.items() if known == title), title
        )
    return _field(value)


def words(value: str, lang: str) -> str:
    """Units and short words inside a value ("2.8 s", "3 h 05 min") in `lang`."""
    return _field(value) if lang == "ru" else value


def _field(value: str) -> str:
    for english, russian in FIELD_WORDS:
        value = re.sub(english, russian, value)
    return value


@functools.cache
def _templates(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    pairs = RUSSIAN if lang == "ru" else ()
    return tuple((pattern_of(english), target) for english, target in pairs)


def pattern_of(template: str) -> re.Pattern[str]:
    """An English template as a regex: its text literally, each {field} any text (named by the field)."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>.+?)")
    return re.compile("".join(parts))  # a field never spans lines
